package spool

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's bytes at off to disk
// now, without waiting for them. A spool is written in a burst at start
// (the whole stream, for the history cache); left to the kernel's
// write-back 30 s later, that burst competed with the ledger's fsyncs and
// halved the append rate at a million events.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
