package broker

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// mosquittoWithRoles starts Mosquitto with a password file and the ACL
// MosquittoACL renders, the way docs/operations.md tells a site to run it.
func mosquittoWithRoles(t *testing.T) *testenv.Mosquitto {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto_passwd not installed")
		}
		t.Skip("mosquitto_passwd not installed (make deps installs mosquitto)")
	}
	for _, u := range append([]User{{Name: gw.Username, Password: gw.Password}}, roleUsers...) {
		if out, err := exec.Command(bin, "-b", pw, u.Name, u.Password).CombinedOutput(); err != nil {
			// -c only for the first user would be the usual way; -b on a
			// missing file needs it.
			if out2, err2 := exec.Command(bin, "-c", "-b", pw, u.Name, u.Password).CombinedOutput(); err2 != nil {
				t.Fatalf("mosquitto_passwd: %v %s %s", err, out, out2)
			}
		}
	}
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte(MosquittoACL(siteTopics, gw.Username, roleUsers)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(pw, 0o644)
	os.Chmod(dir, 0o755)
	return testenv.StartMosquittoConf(t, "allow_anonymous false", "password_file "+pw, "acl_file "+acl,
		// The client id is the account name: taking a session over needs
		// the account's password (deploy/mosquitto.conf).
		"use_username_as_clientid true")
}

func TestRolesMosquitto(t *testing.T) {
	m := mosquittoWithRoles(t)
	checkRoles(t, m.URL, gw.Username, gw.Password, nil)
}
