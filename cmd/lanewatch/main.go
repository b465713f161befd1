// Command lanewatch is the compound's security edge gateway (contract section 1).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lanewatch/lanewatch/internal/auth"
	"github.com/lanewatch/lanewatch/internal/buildinfo"
	"github.com/lanewatch/lanewatch/internal/camsim"
	"github.com/lanewatch/lanewatch/internal/config"
	"github.com/lanewatch/lanewatch/internal/gateway"
	"github.com/lanewatch/lanewatch/internal/logx"
	"github.com/lanewatch/lanewatch/internal/storecheck"
)

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "lanewatch",
		Short:         "Security edge gateway for residential compounds",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	root.AddCommand(runCmd(), checkCmd(), camsimCmd(), discoverCmd(), versionCmd(), passwdCmd(), clusterCmd())

	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "lanewatch:", logx.RedactText(err.Error()))
		return 2
	}
}

func runCmd() *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, path)
			if err != nil {
				return err
			}
			log := logx.New(cmd.ErrOrStderr(), logx.Options{Level: cfg.Log.Level, Format: cfg.Log.Format})
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			g := &gateway.Gateway{Config: cfg, ConfigPath: path, Logger: log}
			if err := g.Run(ctx); err != nil {
				var ce *storecheck.CorruptError
				if errors.As(err, &ce) {
					// One line naming the file and what to do.
					fmt.Fprintln(cmd.ErrOrStderr(), "lanewatch:", ce.Error())
					return exitError{1}
				}
				log.Error("gateway stopped", "err", err)
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", defaultConfig, "configuration file")
	return c
}

const defaultConfig = "configs/lanewatch.yaml"

func checkCmd() *cobra.Command {
	var path string
	var data bool
	c := &cobra.Command{
		Use:   "check -c FILE [--data]",
		Short: "Validate a configuration file; with --data, also every store under its data_dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if data {
				if path == "" {
					path = defaultConfig
				}
				return checkData(cmd.OutOrStdout(), path)
			}
			if path == "" {
				return errors.New(`required flag "config" not set (-c FILE)`)
			}
			problems := config.Check(path)
			for _, p := range problems {
				fmt.Fprintln(cmd.OutOrStdout(), p.String())
			}
			if len(problems) > 0 {
				return exitError{1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
	c.Flags().StringVarP(&path, "config", "c", "", "configuration file")
	c.Flags().BoolVar(&data, "data", false, "check the stores under data_dir (ok / corrupt / missing); exit 1 if any is damaged; -c defaults to "+defaultConfig)
	return c
}

// checkData prints the state of every store under the config's data_dir,
// one line each, and fails (exit 1) when one is damaged. Run it with the
// gateway stopped: a running gateway's files show as in use.
func checkData(w io.Writer, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		printProblems(w, err)
		return exitError{1}
	}
	damaged := false
	for _, r := range storecheck.Data(cfg.DataDir) {
		fmt.Fprintln(w, r.String())
		damaged = damaged || r.Damaged()
	}
	if damaged {
		return exitError{1}
	}
	return nil
}

func camsimCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "camsim --listen ADDR NAME=FILE...",
		Short:              "RTSP server that loops video files, for demos and tests",
		DisableFlagParsing: true, // camsim.Main parses its own flags
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := camsim.Main(args); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go, OpenCV and FFmpeg versions",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), buildinfo.Get().String())
		},
	}
}

func passwdCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd",
		Short: "Read a password and print its bcrypt hash for console.users[].password_hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			if len(pw) < 8 {
				fmt.Fprintln(cmd.ErrOrStderr(), "lanewatch: password must be at least 8 characters")
				return exitError{1}
			}
			h, err := auth.HashPassword(pw)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
}

func readPassword(cmd *cobra.Command) (string, error) {
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// loadConfig loads the configuration, printing its problems (exit 1).
func loadConfig(cmd *cobra.Command, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		printProblems(cmd.ErrOrStderr(), err)
		return nil, exitError{1}
	}
	return cfg, nil
}

func printProblems(w io.Writer, err error) {
	var errs *config.Errors
	if errors.As(err, &errs) {
		for _, p := range errs.Problems {
			fmt.Fprintln(w, p.String())
		}
		return
	}
	fmt.Fprintln(w, "lanewatch:", err)
}
