package camera

import "time"

// Wake leaves key-frame-only idle mode for at least IdleKeyframes from now,
// as if motion had just been seen, for motion reported from outside the
// analysis loop (the camera's own ONVIF motion alarm). Unlike SetMotion(true)
// it does not hold the camera awake: with nothing moving in the analysis,
// the camera goes idle again after IdleKeyframes.
func (c *Camera) Wake() { c.lastMotion.Store(time.Now().UnixNano()) }
