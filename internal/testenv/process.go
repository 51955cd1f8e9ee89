package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// process is one server process a test starts, kills and starts again (a
// MinIO or versitygw server): it appends the server's output to logPath
// and knows whether it runs.
type process struct {
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// stop kills the process and waits for it to exit; stopping a stopped
// process does nothing.
func (p *process) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

// run starts bin with args and the environment plus env, its output going
// to the log (headed by a line naming what starts on addr), and waits for
// ready, which is given a channel closed if the process exits. If ready
// fails, the process is killed and the error carries the log's tail.
func (p *process) run(bin, addr string, args, env []string, ready func(exited <-chan struct{}) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "--- %s: starting %s on %s\n", time.Now().Format(time.RFC3339Nano), bin, addr)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	if err := ready(done); err != nil {
		cmd.Process.Kill()
		<-done
		b, _ := os.ReadFile(p.logPath)
		return fmt.Errorf("%w; output:\n%s", err, minioTail(string(b), 4000))
	}
	p.cmd, p.done = cmd, done
	return nil
}
