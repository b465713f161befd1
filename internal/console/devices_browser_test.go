package console_test

import (
	"testing"

	"github.com/lanewatch/lanewatch/internal/console/consoletest"
)

// An admin issues a patrol phone's sign-in QR code from the wall: the code
// shows on the wall (a PNG the phone scans), the phone is listed, and it can
// be revoked from there. Other roles do not see the panel.
func TestPhoneQRCodeOnTheWall(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e, dev := patrolEnv(t)
	b := consoletest.NewBrowser(t, e.base)
	b.Open()
	b.Login("ada", password)
	b.WaitJS("the phones panel", `!document.getElementById("devices-box").hidden`)
	b.Click("#devices summary")
	b.WaitJS("the form", `document.getElementById("dev-name").offsetParent !== null`)
	consoletest.Eval[bool](b, `(() => { document.getElementById("dev-name").value = "巡逻-1号机"; return true; })()`)
	b.Click(`#device-form button[type=submit]`)
	b.WaitJS("the QR code", `(() => { const i = document.querySelector("#dev-qr img");
		return !document.getElementById("dev-qr").hidden && i.complete && i.naturalWidth >= 100; })()`)
	b.WaitJS("the phone listed", `document.querySelector("#device-list tbody").textContent.includes("巡逻-1号机")`)
	if list := dev.List(); len(list) != 1 || list[0].Name != "巡逻-1号机" || list[0].Role != "operator" {
		t.Fatalf("devices: %+v", list)
	}
	b.Screenshot("wall-phone-qr")
	b.Click(`#device-list .dev-revoke`)
	b.WaitJS("revoked", `document.querySelector("#device-list tbody").textContent.includes("No phones")`)

	v := consoletest.NewBrowser(t, e.base)
	v.Open()
	v.Login("olga", password)
	v.WaitJS("wall up", `!document.getElementById("app").hidden`)
	if consoletest.Eval[bool](v, `!document.getElementById("devices-box").hidden`) {
		t.Error("an operator sees the phones panel")
	}
}
