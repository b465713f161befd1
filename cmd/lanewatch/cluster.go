package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/cluster"
	"github.com/lanewatch/lanewatch/internal/config"
)

func clusterCmd() *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Several gateways of one site (contract section 12)"}
	c.AddCommand(clusterStatusCmd())
	return c
}

// clusterStatusCmd asks the local gateway's console (GET /api/cluster)
// rather than the broker: a clustered broker's NATS port takes no TCP
// clients, and the console already has the admin check.
func clusterStatusCmd() *cobra.Command {
	var path, url, token string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [-c FILE] [--url URL] [--token TOKEN] [--json]",
		Short: "Members, the leader and lag of each replicated stream, and who holds each camera and gate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			insecure := false
			if url == "" {
				url, insecure = localConsole(cfg.Console)
			}
			if token == "" {
				token = os.Getenv("LANEWATCH_TOKEN")
			}
			if token == "" {
				token = adminToken(cfg.Console.Tokens)
			}
			if token == "" {
				return errors.New("no admin token: pass --token or LANEWATCH_TOKEN, or list one in console.tokens")
			}
			st, err := fetchClusterStatus(cmd.Context(), url, token, insecure)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printClusterStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", defaultConfig, "configuration file (for the console's address and an admin token)")
	c.Flags().StringVar(&url, "url", "", "the console's base URL (default: this gateway's console.listen)")
	c.Flags().StringVar(&token, "token", "", "an admin API token (default: $LANEWATCH_TOKEN, else the first admin token of console.tokens)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return c
}

// localConsole is this box's console from its config: an unspecified
// listen host is reached on loopback, whose certificate names the box, not
// 127.0.0.1 (hence insecure, for loopback only).
func localConsole(c config.Console) (string, bool) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		host, port = "127.0.0.1", "8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if c.TLS != nil {
		ip := net.ParseIP(host)
		return "https://" + net.JoinHostPort(host, port), ip != nil && ip.IsLoopback()
	}
	return "http://" + net.JoinHostPort(host, port), false
}

func adminToken(tokens []config.Token) string {
	for _, t := range tokens {
		if t.Role == auth.Admin.String() && t.Token != "" {
			return t.Token
		}
	}
	return ""
}

func fetchClusterStatus(ctx context.Context, url, token string, insecure bool) (cluster.Status, error) {
	var st cluster.Status
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(url, "/")+"/api/cluster", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{}
	if insecure {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback only
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, fmt.Errorf("the gateway's console: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return st, errors.New("this gateway is not clustered (no cluster: in its config)")
	default:
		return st, fmt.Errorf("GET /api/cluster: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("GET /api/cluster: %w", err)
	}
	return st, nil
}

func printClusterStatus(w io.Writer, st cluster.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster as seen by %s: %d members\n\nMEMBER\tHOLDS\tHEARTBEAT\n", st.Gateway, len(st.Members))
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%s\t%d\t%s ago\n", m.ID, m.Held, now.Sub(m.At).Round(100*time.Millisecond))
	}
	fmt.Fprintf(tw, "\nSTREAM\tMESSAGES\tLEADER\tREPLICAS (lag in operations)\n")
	for _, s := range st.Streams {
		leader := s.Leader
		if leader == "" {
			leader = "(none elected)"
		}
		var reps []string
		for _, r := range s.Replicas {
			state := "current"
			switch {
			case r.Offline:
				state = "offline"
			case r.Pending:
				state = "joining"
			case !r.Current:
				state = "catching up"
			}
			reps = append(reps, fmt.Sprintf("%s %s lag %d", r.Name, state, r.Lag))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Messages, leader, strings.Join(reps, ", "))
	}
	fmt.Fprintf(tw, "\nKIND\tID\tHELD BY\n")
	for _, a := range st.Assignments {
		gw := a.Gateway
		if gw == "" {
			gw = "(free)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.ID, gw)
	}
	tw.Flush()
}
