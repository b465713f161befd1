package notify

import (
	"strings"
	"time"

	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/incident"
	"github.com/lanewatch/lanewatch/internal/incidents"
)

// Language of titles and descriptions in tickets, alerts and messages
// (site.language).
const (
	Zh = "zh"
	En = "en"
)

// entry is the catalogue's text for one incident type.
type entry struct {
	zh, en string // the type's name
	// zhDesc, enDesc describe it; {place} is replaced.
	zhDesc, enDesc string
}

// catalogue has one entry per incident type (a test keeps it complete).
var catalogue = map[incident.Type]entry{
	incident.Intrusion:          {"区域入侵", "Intrusion", "{place} 有人进入警戒区域。", "Someone entered the guarded area at {place}."},
	incident.LineCrossing:       {"越线", "Line crossing", "{place} 有人越过警戒线。", "Someone crossed the line at {place}."},
	incident.Loitering:          {"人员徘徊", "Loitering", "{place} 有人长时间逗留。", "Someone has been lingering at {place}."},
	incident.Crowd:              {"人员聚集", "Crowd", "{place} 人员聚集。", "A crowd gathered at {place}."},
	incident.FireLaneBlocked:    {"消防通道占用", "Fire lane blocked", "{place} 消防通道被车辆占用。", "A vehicle blocks the fire lane at {place}."},
	incident.FallingObject:      {"高空抛物", "Falling object", "{place} 检测到高空坠物。", "An object fell from height at {place}."},
	incident.CameraOffline:      {"摄像头离线", "Camera offline", "{place} 摄像头离线，画面中断。", "The camera at {place} is offline."},
	incident.CameraTamper:       {"摄像头被遮挡", "Camera tampered", "{place} 摄像头画面被遮挡或移动。", "The camera at {place} was covered or moved."},
	incident.GateForced:         {"强行开门", "Door forced", "{place} 门禁未授权被打开。", "The door at {place} was opened without authorisation."},
	incident.DoorHeldOpen:       {"门长时间未关", "Door held open", "{place} 门长时间未关闭。", "The door at {place} has been held open."},
	incident.Tailgating:         {"尾随进入", "Tailgating", "{place} 有人尾随通行。", "Someone followed another person through {place}."},
	incident.BlacklistedVehicle: {"黑名单车辆", "Watch-list vehicle", "{place} 出现黑名单车辆。", "A watch-list vehicle is at {place}."},
	incident.VehicleOverstay:    {"车辆超时停留", "Vehicle overstaying", "{place} 车辆停留超时。", "A vehicle has overstayed at {place}."},
	incident.SOS:                {"SOS 求助", "SOS", "{place} 有人按下 SOS 求助按钮，请立即前往。", "Someone pressed the SOS button at {place}; go there now."},
}

var severityNames = map[incident.Severity][2]string{
	incident.Low: {"低", "low"}, incident.Medium: {"中", "medium"},
	incident.High: {"高", "high"}, incident.Critical: {"紧急", "critical"},
}

var eventNames = map[incidents.ChangeKind][2]string{
	incidents.Opened: {"新告警", "New"}, incidents.Escalation: {"已升级", "Escalated"},
	incidents.SeverityChanged: {"级别变更", "Severity changed"},
}

// Names are the display names of cameras, zones, lines and gates, from
// their `name:` in the configuration (zones and lines keyed camera/id).
type Names struct {
	Cameras, Zones, Lines, Gates map[string]string
}

// NamesFrom reads the display names of cfg; an unnamed place is its id.
func NamesFrom(cfg *config.Config) Names {
	n := Names{Cameras: map[string]string{}, Zones: map[string]string{}, Lines: map[string]string{}, Gates: map[string]string{}}
	for _, c := range cfg.Cameras {
		n.Cameras[c.ID] = c.Name
		for _, z := range c.Zones {
			n.Zones[c.ID+"/"+z.ID] = z.Name
		}
		for _, l := range c.Lines {
			n.Lines[c.ID+"/"+l.ID] = l.Name
		}
	}
	for _, g := range cfg.Gates {
		n.Gates[g.ID] = g.Name
	}
	return n
}

func pick(names map[string]string, key, id string) string {
	if v := names[key]; v != "" {
		return v
	}
	return id
}

// Localizer words incidents in the site's language.
type Localizer struct {
	Lang  string // Zh (default) or En
	Names Names
	Loc   *time.Location // the site's zone for times; nil: UTC
}

func (l *Localizer) zh() bool { return l.Lang != En }

// Place names where inc happened: its zone or line (they say most), else
// its gate, else its camera.
func (l *Localizer) Place(inc incident.Incident) string {
	s := inc.Source
	switch {
	case s.Zone != "":
		return pick(l.Names.Zones, s.Camera+"/"+s.Zone, s.Zone)
	case s.Line != "":
		return pick(l.Names.Lines, s.Camera+"/"+s.Line, s.Line)
	case s.Gate != "":
		return pick(l.Names.Gates, s.Gate, s.Gate)
	case s.Camera != "":
		return pick(l.Names.Cameras, s.Camera, s.Camera)
	}
	return ""
}

// TypeName is the incident type's name in the site's language.
func (l *Localizer) TypeName(t incident.Type) string {
	e, ok := catalogue[t]
	if !ok {
		return string(t)
	}
	if l.zh() {
		return e.zh
	}
	return e.en
}

// Title: "北门 SOS 求助", "SOS at North gate"; a vehicle's plate follows.
func (l *Localizer) Title(inc incident.Incident) string {
	place, name := l.Place(inc), l.TypeName(inc.Type)
	var t string
	switch {
	case place == "":
		t = name
	case l.zh():
		t = place + " " + name
	default:
		t = name + " at " + place
	}
	if inc.Plate != "" {
		t += " " + inc.Plate
	}
	return t
}

// Description is the catalogue's sentence; in English the engine's own
// description, which has the rule's details, is kept when there is one.
func (l *Localizer) Description(inc incident.Incident) string {
	if !l.zh() && inc.Description != "" {
		return inc.Description
	}
	e, ok := catalogue[inc.Type]
	if !ok {
		return inc.Description
	}
	d := e.zhDesc
	if !l.zh() {
		d = e.enDesc
	}
	place := l.Place(inc)
	if place == "" {
		place = map[bool]string{true: "现场", false: "the site"}[l.zh()]
	}
	return strings.ReplaceAll(d, "{place}", place)
}

// Severity is the severity's name in the site's language.
func (l *Localizer) Severity(s incident.Severity) string { return l.word(severityNames[s], string(s)) }

// Event names a change kind ("新告警", "Escalated").
func (l *Localizer) Event(k incidents.ChangeKind) string { return l.word(eventNames[k], string(k)) }

// word picks the zh or en of a pair; or fallback when the pair is empty.
func (l *Localizer) word(pair [2]string, fallback string) string {
	switch {
	case pair[0] == "":
		return fallback
	case l.zh():
		return pair[0]
	}
	return pair[1]
}

// Time formats t in the site's zone, one format everywhere.
func (l *Localizer) Time(t time.Time) string {
	loc := l.Loc
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// Localize returns inc with its title and description in the site's
// language; every other field (the contract's JSON) is as it was.
func (l *Localizer) Localize(inc incident.Incident) incident.Incident {
	inc.Title = l.Title(inc)
	inc.Description = l.Description(inc)
	return inc
}
