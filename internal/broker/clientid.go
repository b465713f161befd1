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
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return ""
	}
	v = v.Elem()
	if v.Kind() != reflect.Struct {
		return ""
	}
	m := v.FieldByName("mqtt")
	if !m.IsValid() || m.Kind() != reflect.Pointer || m.IsNil() {
		return ""
	}
	cid := m.Elem().FieldByName("cid")
	if !cid.IsValid() || cid.Kind() != reflect.String {
		return ""
	}
	return cid.String()
}
