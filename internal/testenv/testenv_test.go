package testenv_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/lanewatch/lanewatch/internal/testenv"
)

// A point written with influxdb-client-go/v2 to influxd 1.8.10 must come back
// through Flux: this is the path the gateway's writer relies on.
func TestInfluxdWriteAndFluxReadBack(t *testing.T) {
	d := testenv.StartInfluxd(t)
	c := influxdb2.NewClient(d.URL, "")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	w := c.WriteAPIBlocking("", d.Bucket)
	at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	p := influxdb2.NewPoint("camera", map[string]string{"site": "t", "camera": "lawn"},
		map[string]interface{}{"fps_in": 9.5}, at)
	if err := w.WritePoint(ctx, p); err != nil {
		t.Fatalf("write: %v", err)
	}
	q := fmt.Sprintf(`from(bucket:%q) |> range(start: -1h) |> filter(fn: (r) => r._measurement == "camera" and r.camera == "lawn")`, d.Bucket)
	res, err := c.QueryAPI("").Query(ctx, q)
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	var got []float64
	for res.Next() {
		got = append(got, res.Record().Value().(float64))
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	if len(got) != 1 || got[0] != 9.5 {
		t.Fatalf("read back %v, want [9.5]", got)
	}
}

// Mosquitto keeps retained messages across a restart (persistence on), which
// lanewatch's retained incident state depends on.
func TestMosquittoRetainedSurvivesRestart(t *testing.T) {
	m := testenv.StartMosquitto(t)
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	if tok := pub.Publish("t/state", 1, true, "kept"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	pub.Disconnect(100)
	m.Restart()

	got := make(chan string, 1)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL).SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	sub.Subscribe("t/state", 1, func(_ mqtt.Client, msg mqtt.Message) { got <- string(msg.Payload()) })
	select {
	case v := <-got:
		if v != "kept" {
			t.Fatalf("retained = %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retained message lost across restart")
	}
}

func TestListensOnNamesTheOwner(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ok, err := testenv.ListensOn(os.Getpid(), l.Addr().String())
	if err != nil || !ok {
		t.Fatalf("own listener: %v %v", ok, err)
	}
	ok, err = testenv.ListensOn(1, l.Addr().String())
	if err != nil || ok {
		t.Fatalf("pid 1 does not hold our socket: %v %v", ok, err)
	}
	free := testenv.FreeAddr(t)
	if ok, _ := testenv.ListensOn(os.Getpid(), free); ok {
		t.Fatal("nobody listens on a free port")
	}
}
