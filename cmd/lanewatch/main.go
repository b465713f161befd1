package main

import (
	_ "github.com/bluenviron/gortsplib/v4"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/influxdata/influxdb-client-go/v2"
	_ "github.com/mochi-mqtt/server/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.etcd.io/bbolt"
	_ "gopkg.in/yaml.v3"
	_ "golang.org/x/crypto/bcrypt"
	_ "gocv.io/x/gocv"
)

func main() {}
