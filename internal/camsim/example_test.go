package camsim_test

import (
	"context"
	"fmt"

	"github.com/lanewatch/lanewatch/internal/camsim"
)

// A camera-client test serves a clip on a free loopback port, then stalls,
// stops and restarts it to exercise the client's timeouts and reconnects.
func ExampleServer() {
	s := &camsim.Server{
		Listen:  "127.0.0.1:0",
		Streams: map[string]string{"gate": "media/campus-walk-10s.mp4"},
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	url := s.URL("gate") // rtsp://127.0.0.1:PORT/gate

	_ = s.Pause("gate")      // packets stop, the session stays: a hung camera
	_ = s.Resume("gate")     // resumes at the next key frame
	_ = s.StopStream("gate") // readers dropped, DESCRIBE gets 404
	_ = s.StartStream("gate")
	s.Close()                         // the whole camera goes away...
	_ = s.Start(context.Background()) // ...and comes back on the same address
	st, _ := s.Stats("gate")          // AUs sent, passes over the file
	_, _ = url, st
}
