package broker

import (
	"reflect"

	"github.com/nats-io/nats-server/v2/server"
)

// mqttClientID reads the MQTT client id of a connection being authenticated.
// NATS parses it before authentication but does not export it
// (client.mqtt.cid), and the gateway's client id must be reserved for the
// gateway's own account, so it is read by reflection. Pinned to
// nats-server v2.15.3; TestGatewayClientIDReserved fails if a release moves
// the field ("" is returned then, and the reservation would not hold).
func mqttClientID(c server.ClientAuthentication) string {
	m, ok := mqttState(c)
	if !ok {
		return ""
	}
	cid := m.Elem().FieldByName("cid")
	if !cid.IsValid() || cid.Kind() != reflect.String {
		return ""
	}
	return cid.String()
}

// mqttState is the connection's client.mqtt (valid only for MQTT clients).
func mqttState(c server.ClientAuthentication) (reflect.Value, bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return v, false
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return v, false
	}
	m := v.FieldByName("mqtt")
	if !m.IsValid() || m.Kind() != reflect.Pointer || m.IsNil() {
		return m, false
	}
	return m, true
}

// isMQTTConn tells whether the connection is an MQTT client's.
func isMQTTConn(c server.ClientAuthentication) bool {
	_, ok := mqttState(c)
	return ok
}
