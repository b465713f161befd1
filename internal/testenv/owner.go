package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listensOn reports whether process pid holds the listening TCP socket on
// addr (an IPv4 host:port). A server that lost the race for a port picked by
// FreeAddr exits, but another package's server then answers on that port, so
// "something answers" is not proof that our server is up; the socket's owner
// is. Linux-only, read from /proc.
func listensOn(pid int, addr string) (bool, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	ip := net.ParseIP(host).To4()
	port, err := strconv.Atoi(portStr)
	if ip == nil || err != nil {
		return false, fmt.Errorf("listensOn: %q is not an IPv4 host:port", addr)
	}
	// /proc/net/tcp prints the address as the in-memory (little-endian on the
	// machines we run on) uint32 followed by the port in big-endian hex.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], port)
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	var inode string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[1] != want || fs[3] != "0A" { // 0A = LISTEN
			continue
		}
		inode = fs[9]
		break
	}
	if inode == "" {
		return false, sc.Err()
	}
	link := "socket:[" + inode + "]"
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == link {
			return true, nil
		}
	}
	return false, nil
}

// serverProc is a server process a test started, with its log file.
type serverProc struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed when Wait returns; one goroutine owns Wait
}

// startServer runs bin and waits until this very process listens on addr and
// ready (if any) says yes. It returns an error when the process exits first
// (the port was taken) or the wait times out; the process is gone then.
func startServer(bin string, args []string, logPath, addr string, timeout time.Duration, ready func() bool) (*serverProc, error) {
	name := filepath.Base(bin)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &serverProc{cmd: cmd, log: lf, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			lf.Close()
			return nil, fmt.Errorf("%s exited before serving %s (port taken?)", name, addr)
		default:
		}
		if ours, _ := listensOn(cmd.Process.Pid, addr); ours && (ready == nil || ready()) {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop(0)
			return nil, fmt.Errorf("%s not serving %s after %v", name, addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM (so servers save their state) and kills after grace.
func (p *serverProc) stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.log.Close()
}

// waitPortFree waits up to 5 s for addr to be bindable: a port lingers
// briefly after its server exits.
func waitPortFree(addr string) {
	for i := 0; i < 50; i++ {
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onFreshPorts calls try with fresh ports until it succeeds: parallel test
// packages pick ports the same way, and when another server wins ours we
// pick again rather than talk to someone else's server.
func onFreshPorts(t testing.TB, what string, try func() error) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = try(); err == nil {
			return nil
		}
		t.Logf("%s attempt %d: %v; trying fresh ports", what, attempt, err)
	}
	return err
}

// untilStarted retries start on fixed ports for up to 60 s: after a restart
// clients hold the address, so a port another process took meanwhile is
// waited out rather than changed.
func untilStarted(start func() error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := start()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
