package auth

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// On a full disk an audit write fails with an error and leaves no half line
// behind: once space is back the log reads whole, every entry that was
// reported written is in it.
func TestAuditFullDiskLeavesNoTornLine(t *testing.T) {
	disk := testenv.NewSmallDisk(t, "1m")
	path := filepath.Join(disk.Dir, "audit.log")
	l, err := openAudit(path, time.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	must := func(e Entry) {
		t.Helper()
		if err := l.write(&e); err != nil {
			t.Fatal(err)
		}
	}
	must(Entry{User: "admin", Action: "before"})
	disk.Fill(t)
	// Entries bigger than what may be left in the last page, so that a
	// write is refused part-way.
	big := map[string]string{"note": string(make([]byte, 20000))}
	failed := 0
	for i := 0; i < 20; i++ {
		if err := l.write(&Entry{User: "admin", Action: "during", Details: big}); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no audit write failed on a full disk")
	}
	disk.Free(t)
	must(Entry{User: "admin", Action: "after"})
	es, err := ReadAudit(path)
	if err != nil {
		t.Fatalf("audit log torn: %v", err)
	}
	if es[0].Action != "before" || es[len(es)-1].Action != "after" || len(es) != 2+20-failed {
		t.Fatalf("%d entries (%d writes failed), first %q last %q", len(es), failed, es[0].Action, es[len(es)-1].Action)
	}
}
