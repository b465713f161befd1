package camera

import (
	"fmt"
	"sync"
	"time"

	"github.com/lanewatch/lanewatch/internal/incident"
)

// OfflineIncidents turns a camera's status into its camera_offline
// incident: one opens once the camera has been offline for Grace (a
// reconnect within it pages nobody, nor does a camera still connecting at
// start) and is resolved when the camera is back. Feed it every status
// change; Close stops a pending timer.
type OfflineIncidents struct {
	Camera, Name string
	Grace        time.Duration
	Raiser       incident.Raiser

	mu     sync.Mutex
	state  string
	timer  *time.Timer
	raised bool // a camera_offline signal is out for the current outage
	closed bool
}

// Update takes the camera's status.
func (o *OfflineIncidents) Update(st Status) {
	src := incident.Source{Camera: o.Camera}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.state = st.State
	switch {
	case st.State == StateOffline && o.timer == nil && !o.raised:
		reason := st.Reason
		o.timer = time.AfterFunc(o.Grace, func() {
			o.mu.Lock()
			still := o.state == StateOffline && !o.closed
			o.timer = nil
			o.raised = o.raised || still
			o.mu.Unlock()
			if still {
				o.Raiser.Raise(incident.Signal{Type: incident.CameraOffline, Source: src, At: time.Now(),
					Title:       "Camera offline: " + o.Name,
					Description: fmt.Sprintf("Camera %s (%s) has been offline for %s: %s.", o.Name, o.Camera, o.Grace, reason)})
			}
		})
	case st.State != StateOffline:
		if o.timer != nil {
			o.timer.Stop()
			o.timer = nil
		}
		if o.raised {
			// Back: the engine resolves the open camera_offline incident.
			o.raised = false
			o.Raiser.Raise(incident.Signal{Type: incident.CameraOffline, Source: src, At: time.Now(), Clear: true})
		}
	}
}

// Close stops a pending timer; a stopping gateway raises nothing more.
func (o *OfflineIncidents) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
}
