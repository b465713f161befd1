package eval

import (
	"bytes"
	"fmt"
	"math"
	"os/exec"
	"time"

	"gocv.io/x/gocv"
)

// IdleFallClip describes the idle-facade footage: a still facade with sensor
// noise, then one object dropped under gravity between two key frames, then
// the object lying still.
type IdleFallClip struct {
	FPS  int           // default 10
	GOP  time.Duration // key-frame interval; default 4 s (cameras send 2–4 s, smart codecs more)
	Fall time.Duration // when the object is let go; default 16 s + GOP/4 (a quarter into a GOP)
	Tail time.Duration // after the fall; default 3 s
}

// fallG is the fall's acceleration in pixels/s²: 3 m over 280 px, as in the
// generated falling-object clip.
const fallG = 400.0

func (c *IdleFallClip) defaults() {
	if c.FPS <= 0 {
		c.FPS = 10
	}
	if c.GOP <= 0 {
		c.GOP = 4 * time.Second
	}
	if c.Fall <= 0 {
		c.Fall = 16*time.Second + c.GOP/4
	}
	if c.Tail <= 0 {
		c.Tail = 3 * time.Second
	}
}

// Duration is the clip's length.
func (c IdleFallClip) Duration() time.Duration { c.defaults(); return c.Fall + c.Tail }

// renderIdleFall draws the frame at t seconds: the facade, and from fall on
// a ball of radius 7 px dropping from y=30 to the ground at y=300 (1.2 s).
func renderIdleFall(s *Scene, t, fall float64, dst *gocv.Mat) {
	s.Background(dst, 0)
	if t >= fall {
		y := 30 + 0.5*fallG*(t-fall)*(t-fall)
		Ball(dst, 300, int(math.Min(y, 300)), 7)
	}
	s.Noise(dst)
}

// WriteIdleFallClip renders the clip and encodes it with the ffmpeg CLI
// (libx264, no B-frames, fixed GOP, no scene-cut key frames, as a camera
// sends) into raw Annex-B H.264 at path.
func WriteIdleFallClip(path string, c IdleFallClip) error {
	c.defaults()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("eval: idle fall clip needs the ffmpeg CLI: %w", err)
	}
	gop := int(c.GOP.Seconds() * float64(c.FPS))
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "bgr24", "-s", fmt.Sprintf("%dx%d", W, H), "-r", fmt.Sprint(c.FPS), "-i", "-",
		"-an", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0",
		"-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("eval: ffmpeg: %w", err)
	}
	s := NewScene(W, H, 3)
	defer s.Close()
	gocv.SetRNGSeed(11)
	frame := gocv.NewMat()
	defer frame.Close()
	n := int(c.Duration().Seconds() * float64(c.FPS))
	var werr error
	for i := 0; i < n && werr == nil; i++ {
		renderIdleFall(s, float64(i)/float64(c.FPS), c.Fall.Seconds(), &frame)
		_, werr = in.Write(frame.ToBytes())
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("eval: ffmpeg: %w: %s", err, stderr.Bytes())
	}
	if werr != nil {
		return fmt.Errorf("eval: ffmpeg input: %w", werr)
	}
	return nil
}
