package publish

import (
	"fmt"
	"time"
)

// ProgressLog turns Progress into lines for a person: the plan, then at most
// one line per interval while uploading, then the total. say is Packer's
// ui.Message or a line writer on stderr.
func ProgressLog(say func(string), interval time.Duration) func(Progress) {
	var last time.Time
	return func(p Progress) {
		switch p.Stage {
		case Planned:
			say(fmt.Sprintf("%d objects in the bundle: %d already in the bucket, %d to upload (%s)",
				p.Objects, p.Present, p.ToUpload, HumanBytes(p.UploadBytes)))
			last = time.Now()
		case Uploading:
			if p.Uploaded == p.ToUpload || time.Since(last) >= interval {
				say(fmt.Sprintf("uploaded %d/%d objects, %s/%s", p.Uploaded, p.ToUpload, HumanBytes(p.UploadedBytes), HumanBytes(p.UploadBytes)))
				last = time.Now()
			}
		case Finished:
			say(fmt.Sprintf("done: %d uploaded (%s), %d unchanged", p.Uploaded, HumanBytes(p.UploadedBytes), p.Present))
		}
	}
}

// HumanBytes formats a byte count in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
