package daemon_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dealcredit/internal/testkit/daemontest"
	"dealcredit/internal/testkit/logbuf"
)

// mountSmallDisk mounts a tmpfs of the given size on a new directory, or
// skips the test when that is not permitted (it needs root).
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestFullDiskEmbeddedRecovers fills the disk of the embedded JetStream
// store. Before, publishers got only timeouts, /readyz stayed 200, and the
// streams that failed a write kept failing after space was freed until the
// daemon restarted. Now /readyz is 503 at once, and once space is freed
// the daemon restarts JetStream by itself: /readyz is 200 and a new invoice
// is ingested within seconds, and a SIGTERM still stops it quickly.
func TestFullDiskEmbeddedRecovers(t *testing.T) {
	disk := mountSmallDisk(t, "64m")
	var logs logbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	d := daemontest.StartLogged(t, map[string]string{"DEALCREDIT_DATA_DIR": disk, "DEALCREDIT_STREAM_MAX_BYTES": "2MiB"}, &logs)
	enrollOEM(t, d, "hp")
	js := jsConnect(t, d.NATSURL)
	ingested(t, js, 1, 30*time.Second)
	waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 5*time.Second)

	filler := filepath.Join(disk, "filler")
	if out, err := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M", "count=100").CombinedOutput(); err == nil {
		t.Fatalf("dd filled 100 MiB of a 64 MiB disk: %s", out)
	}
	took := waitReadyz(t, d.URL, http.StatusServiceUnavailable, "the disk of the JetStream store", 2*time.Second)
	t.Logf("/readyz 503 %s after the disk filled", took.Round(time.Millisecond))
	// A publish now fails a write in OEM_HP's file store, which then
	// refuses every later write until the stream is loaded again.
	failed := 0
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		big := strings.Replace(invoiceBody, "HP-N", "HP-FULL-"+strconv.Itoa(i)+strings.Repeat(" ", 300<<10), 1)
		if _, err := js.Publish(ctx, "oem.hp.invoices", []byte(big)); err != nil {
			failed++
		}
		cancel()
	}
	if failed == 0 {
		t.Fatal("every publish to a full disk was acknowledged: the disk was not full")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitReadyz(t, d.URL, http.StatusOK, `"status":"ready"`, 5*time.Second)
	ingested(t, js, 2, 5*time.Second)
	t.Logf("/readyz 200 and a new invoice ingested %s after the space was freed", time.Since(freed).Round(time.Millisecond))

	start := time.Now()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("SIGTERM took %s, want a few seconds at most", took)
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}
