package notify

import (
	"fmt"
	"strings"
)

// Robot messages are markdown; these build the single and the folded form.
// Folded messages list every incident with its title, place, time and link,
// so that each incident stays reachable from a message.

func zh(n Note) bool { return n.Lang != En }

func tr(n Note, zhs, ens string) string {
	if zh(n) {
		return zhs
	}
	return ens
}

// mdEscape keeps names from opening markdown constructs in robot messages.
var mdEscape = strings.NewReplacer("[", "［", "]", "］", "\n", " ", "\r", " ")

// headline: "【紧急】北门 SOS 求助" / "[critical] SOS at North gate".
func headline(n Note) string {
	if zh(n) {
		return "【" + n.Severity + "】" + mdEscape.Replace(n.TitleLocal)
	}
	return "[" + n.Severity + "] " + mdEscape.Replace(n.TitleLocal)
}

// markdown is one incident as WeCom and DingTalk show it.
func markdown(n Note) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n", headline(n))
	fmt.Fprintf(&b, "> %s: %s\n", tr(n, "事件", "Event"), n.EventLocal)
	fmt.Fprintf(&b, "> %s: %s\n", tr(n, "地点", "Place"), mdEscape.Replace(n.Place))
	fmt.Fprintf(&b, "> %s: %s\n", tr(n, "时间", "Time"), n.Time)
	fmt.Fprintf(&b, "> %s: %s · %s: %d\n", tr(n, "级别", "Severity"), n.Severity, tr(n, "次数", "Count"), n.Incident.Count)
	if d := n.Incident.Description; d != "" {
		fmt.Fprintf(&b, "\n%s\n", mdEscape.Replace(d))
	}
	if n.Links.Snapshot != "" {
		fmt.Fprintf(&b, "\n[%s](%s)\n", tr(n, "查看现场快照", "Open the snapshot"), n.Links.Snapshot)
	}
	b.WriteString(footer)
	return b.String()
}

// footer ends every message: a robot with keyword security set to
// "lanewatch" takes them all, in either language.
const footer = "\n— lanewatch\n"

// foldedTitle: "12 条告警（合并发送）" / "12 incidents (folded)".
func foldedTitle(ns []Note) string {
	return tr(ns[0], fmt.Sprintf("%d 条告警（机器人限速，合并发送）", len(ns)), fmt.Sprintf("%d incidents (folded: the robot's rate limit)", len(ns)))
}

// foldedMarkdown lists every note, one line each, with its link.
func foldedMarkdown(ns []Note) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n", foldedTitle(ns))
	for i, n := range ns {
		fmt.Fprintf(&b, "%d. %s · %s · %s", i+1, headline(n), mdEscape.Replace(n.Place), n.Time)
		if n.Links.Snapshot != "" {
			fmt.Fprintf(&b, " [%s](%s)", tr(n, "快照", "snapshot"), n.Links.Snapshot)
		}
		b.WriteByte('\n')
	}
	b.WriteString(footer)
	return b.String()
}
