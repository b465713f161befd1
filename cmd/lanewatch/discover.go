package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanewatch/lanewatch/internal/onvif"
)

// Environment variables discover reads credentials from.
const (
	envONVIFUser     = "LANEWATCH_ONVIF_USER"
	envONVIFPassword = "LANEWATCH_ONVIF_PASSWORD"
)

func discoverCmd() *cobra.Command {
	var (
		probe, user, password string
		wait, timeout         time.Duration
		asJSON, events        bool
		xaddrs                []string
	)
	c := &cobra.Command{
		Use:   "discover [--probe ADDR] [--user U] [--json]",
		Short: "Find ONVIF cameras on the LAN and print a cameras: block for the configuration",
		Long: `Sends a WS-Discovery probe (to the multicast group 239.255.255.250:3702, or
to --probe HOST:PORT), asks every camera that answers for its profiles and
stream URIs with the credentials from --user/--password or $` + envONVIFUser + `/$` + envONVIFPassword + `,
and prints a cameras: block: the largest stream as url, the smallest as
detect.url, sizes as comments. Cameras that could not be asked (credentials
refused, no media service, timeouts) are listed after it, not fatal.
The password is written as ${` + envONVIFPassword + `}, never in clear.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				user = os.Getenv(envONVIFUser)
			}
			if password == "" {
				password = os.Getenv(envONVIFPassword)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var matches []onvif.ProbeMatch
			for _, x := range xaddrs {
				matches = append(matches, onvif.ProbeMatch{XAddrs: []string{x}})
			}
			if len(xaddrs) == 0 {
				ms, skipped, err := onvif.Probe(ctx, probe, wait)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "lanewatch discover:", err)
					return exitError{1}
				}
				if skipped > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "lanewatch discover: %d answers that were not ProbeMatches for this probe ignored\n", skipped)
				}
				matches = ms
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lanewatch discover: %d devices answered\n", len(matches))
			client := &onvif.Client{Username: user, Password: password, Timeout: timeout}
			devs := onvif.DescribeAll(ctx, client, matches, 8)
			if asJSON {
				return onvif.WriteJSON(cmd.OutOrStdout(), devs)
			}
			opts := onvif.YAMLOptions{Username: user, Events: events}
			if password != "" {
				opts.PasswordVar = envONVIFPassword
			}
			return onvif.WriteYAML(cmd.OutOrStdout(), devs, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&probe, "probe", onvif.DiscoveryAddr, "where the probe goes: the multicast group, or one HOST:PORT")
	f.StringSliceVar(&xaddrs, "xaddr", nil, "ask this device service URL directly, without a probe (repeatable)")
	f.DurationVar(&wait, "wait", 3*time.Second, "how long to collect answers to the probe")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "per call to a device")
	f.StringVar(&user, "user", "", "ONVIF user name (default $"+envONVIFUser+")")
	f.StringVar(&password, "password", "", "ONVIF password (default $"+envONVIFPassword+"; prefer the variable: flags show in ps)")
	f.BoolVar(&events, "events", false, "print onvif.events: true (the cameras' own events become incidents)")
	f.BoolVar(&asJSON, "json", false, "print JSON for tools instead of YAML")
	return c
}
