package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/lanewatch/lanewatch/internal/eval"
)

// idleFallFlags: the idle-facade case runs in real time; its defaults keep
// `make eval` short (6 s keyframes_when_idle, fall at 17 s, about 20 s);
// -idle-fall-idle 30s -idle-fall-at 73s is the gateway's default idle
// period with 43 s of idle mode before the fall.
func idleFallFlags() *eval.IdleFall {
	f := &eval.IdleFall{}
	flag.DurationVar(&f.Idle, "idle-fall-idle", 6*time.Second, "idle-facade case: keyframes_when_idle of its cameras")
	flag.DurationVar(&f.Clip.Fall, "idle-fall-at", 17*time.Second, "idle-facade case: when the object falls (the stream is joined at its first key frame after 0)")
	flag.DurationVar(&f.Clip.GOP, "idle-fall-gop", 4*time.Second, "idle-facade case: key-frame interval")
	return f
}

// runIdleFall runs the idle-facade case, prints it and returns its failures.
func runIdleFall(f *eval.IdleFall) []string {
	r, err := f.Run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle facade:", err)
		os.Exit(2)
	}
	r.Print(os.Stdout)
	fails := r.Failures()
	for _, s := range fails {
		fmt.Println("FAIL", s)
	}
	return fails
}
