package camera

import (
	"testing"
	"time"
)

func TestWakeLeavesIdleForAWhile(t *testing.T) {
	c := &Camera{IdleKeyframes: time.Minute}
	now := time.Now()
	if !c.idleMode(now) {
		t.Fatal("a camera that never saw motion is not idle")
	}
	c.Wake()
	if c.idleMode(time.Now()) {
		t.Fatal("idle right after Wake")
	}
	if !c.idleMode(time.Now().Add(61 * time.Second)) {
		t.Fatal("still awake after IdleKeyframes: Wake holds the camera like SetMotion(true)")
	}
}
