// converge-logger: the log driver containerd's runc shim starts for each task of converge
// (a "binary://" stdio URI). The shim hands it the task's stdout on fd 3, its stderr on fd
// 4 and a pipe on fd 5 that it waits on; the shim starts the task once fd 5 is closed.
// The shim passes the URI's query as arguments, one "key value" pair per parameter and in
// no fixed order, and sets CONTAINER_ID and CONTAINER_NAMESPACE (its only environment).
//
// It writes both streams to one file in the CRI log format, rotated by size with a bounded
// number of files. It lives as long as the task's pipes, with the shim and not with
// converge: a converge that is stopped or slow never holds a container's output back. And
// it never stops reading: when the file cannot be written (a full disk, a removed dir),
// the output is dropped, not left in the pipe where it would block the container.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// How long a SIGTERM from the shim (sent after it closed its ends of the pipes) waits for
// the streams to end, so that the last lines are written.
const drainGrace = 2 * time.Second

func main() {
	// Many loggers run on one box: one thread for Go code (one loop does all the work) and a
	// small heap matter more here than speed.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(50)
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("converge-logger", flag.ContinueOnError)
	file := fs.String("file", "", "the log file (rotated ones get .1, .2, ...)")
	maxSize := fs.Int64("max-size", 10<<20, "rotate the file before it grows past this many bytes")
	maxFiles := fs.Int("max-files", 5, "files kept in all, the current one included")
	lineMax := fs.Int("line-max", 16<<10, "longer lines are split into partial (P) records of this many bytes")
	ready := os.NewFile(5, "ready")
	parseErr := fs.Parse(args)
	if parseErr == nil {
		parseErr = check(*file, *maxSize, *maxFiles, *lineMax)
	}
	var out *rotator
	if parseErr == nil {
		out = newRotator(*file, *maxSize, *maxFiles)
	} else {
		// Nothing to write to; the shim shows no output of ours, yet by hand this says why.
		fmt.Fprintf(os.Stderr, "converge-logger: %v\n", parseErr)
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)

	// Ready whatever happened above: a task must never wait on its logger. One byte, then
	// close: "binary" takes the close, "binary-v2" (containerd 2.x) wants the byte.
	_, _ = ready.Write([]byte{1})
	_ = ready.Close()
	if parseErr != nil {
		*lineMax = 16 << 10 // only to drain the pipes
	}
	pump([]int{3, 4}, []string{"stdout", "stderr"}, *lineMax, out, term)
	if out != nil {
		out.close()
	}
	if parseErr != nil {
		return 2
	}
	return 0
}

func check(file string, maxSize int64, maxFiles, lineMax int) error {
	switch {
	case file == "":
		return fmt.Errorf("--file is required")
	case maxSize < 1024:
		return fmt.Errorf("--max-size: expected at least 1024 bytes, got %d", maxSize)
	case maxFiles < 1:
		return fmt.Errorf("--max-files: expected at least 1, got %d", maxFiles)
	case lineMax < 64 || int64(lineMax) > maxSize:
		return fmt.Errorf("--line-max: expected 64 to --max-size bytes, got %d", lineMax)
	}
	return nil
}
