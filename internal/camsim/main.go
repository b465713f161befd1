package camsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lanewatch/lanewatch/internal/onvif"
)

const usage = `usage: lanewatch camsim [--listen ADDR] [--fps N] [--udp-port N] [--onvif ADDR [--onvif-discovery ADDR]
                        [--onvif-user U] [--onvif-password P]] NAME=FILE...

Serves each FILE (H.264 or H.265 in MP4, MKV, MPEG-TS or raw Annex-B) at
rtsp://ADDR/NAME, looping at its own frame rate, until SIGINT or SIGTERM.

With --onvif, each NAME is also an ONVIF camera at http://ADDR/onvif/NAME/device_service
with a main profile (NAME) and a sub profile (NAME-sub: give NAME-sub=FILE2 for a
smaller file, else NAME's file is served as NAME-sub too), PullPoint events scripted with
POST /camsim/onvif/NAME/events {"topic": ..., "source": {...}, "data": {...}}, and
WS-Discovery answers (multicast 239.255.255.250:3702 unless --onvif-discovery says
otherwise; "off" for none). Calls need a WS-UsernameToken digest of --onvif-user and
--onvif-password (default: $LANEWATCH_ONVIF_PASSWORD, else "camsim").
`

// Main is "lanewatch camsim": it returns the process exit code (0 after a
// signal, 1 when a file or the address cannot be served, 2 for bad usage).
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stderr)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fs := flag.NewFlagSet("camsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", ":8554", "RTSP listen address (TCP)")
	fps := fs.Float64("fps", 0, "frame rate of raw Annex-B files (0: from the SPS, else 25)")
	udpPort := fs.Int("udp-port", 0, "even UDP port for RTP, RTCP on the next (0: pick a free pair, -1: TCP only)")
	onvifAddr := fs.String("onvif", "", "ONVIF (HTTP) listen address; empty: no ONVIF")
	onvifDisc := fs.String("onvif-discovery", onvif.DiscoveryAddr, `WS-Discovery UDP address ("off": none)`)
	onvifUser := fs.String("onvif-user", "admin", "ONVIF user name")
	onvifPass := fs.String("onvif-password", "", "ONVIF password (default $LANEWATCH_ONVIF_PASSWORD, else camsim)")

	streams := map[string]string{}
	// Flags and NAME=FILE arguments may come in any order.
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		name, file, ok := strings.Cut(rest[0], "=")
		if !ok || name == "" || file == "" {
			fmt.Fprintf(stderr, "camsim: %q is not NAME=FILE\n", rest[0])
			fs.Usage()
			return 2
		}
		if _, dup := streams[name]; dup {
			fmt.Fprintf(stderr, "camsim: stream %q given twice\n", name)
			return 2
		}
		streams[name] = file
		rest = rest[1:]
	}
	if len(streams) == 0 {
		fs.Usage()
		return 2
	}
	if *onvifAddr != "" {
		addSubStreams(streams)
	}
	srv := &Server{Listen: *listen, Streams: streams, Logger: log, FrameRate: *fps, UDPRTPPort: *udpPort}
	if err := srv.Start(ctx); err != nil {
		log.Error("camsim: cannot start", "err", err)
		return 1
	}
	if *onvifAddr != "" {
		ov := &ONVIF{Listen: *onvifAddr, Discovery: *onvifDisc, RTSP: srv, Username: *onvifUser, Password: *onvifPass, Logger: log}
		if ov.Discovery == "off" {
			ov.Discovery = ""
		}
		if ov.Password == "" {
			ov.Password = os.Getenv("LANEWATCH_ONVIF_PASSWORD")
		}
		if ov.Password == "" {
			ov.Password = "camsim"
		}
		if err := ov.Start(ctx); err != nil {
			log.Error("camsim: cannot start ONVIF", "err", err)
			srv.Close()
			return 1
		}
		defer ov.Close()
	}
	<-ctx.Done()
	srv.Close()
	log.Info("camsim: stopped")
	return 0
}

// addSubStreams gives every camera NAME without a NAME-sub its own file as
// the sub-stream, so that each ONVIF device has two distinct stream URLs.
func addSubStreams(streams map[string]string) {
	for name, file := range streams {
		if strings.HasSuffix(name, SubSuffix) {
			continue
		}
		if _, ok := streams[name+SubSuffix]; !ok {
			streams[name+SubSuffix] = file
		}
	}
}
