package onvif

import (
	"fmt"
	"strings"
)

// SOAP actions of the media service.
const (
	ActionGetProfiles  = NSMedia + "/GetProfiles"
	ActionGetStreamUri = NSMedia + "/GetStreamUri"
)

// Profile is one media profile: a video encoder configuration with its
// resolution (0×0 when the profile has no video encoder).
type Profile struct {
	Token    string  `json:"token"`
	Name     string  `json:"name"`
	Encoding string  `json:"encoding,omitempty"` // H264, H265, JPEG, ...
	Width    int     `json:"width,omitempty"`
	Height   int     `json:"height,omitempty"`
	FPS      float64 `json:"fps,omitempty"`
}

// GetProfilesBody is the GetProfiles request body.
const GetProfilesBody = `<trt:GetProfiles/>`

// GetStreamURIBody asks for the RTSP (RTP over RTSP/TCP capable) URI of a profile.
func GetStreamURIBody(token string) string {
	return `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>` +
		esc(token) + `</trt:ProfileToken></trt:GetStreamUri>`
}

type profilesXML struct {
	Profiles []struct {
		Token string `xml:"token,attr"`
		Name  string `xml:"Name"`
		Video *struct {
			Encoding   string `xml:"Encoding"`
			Resolution struct {
				Width  int `xml:"Width"`
				Height int `xml:"Height"`
			} `xml:"Resolution"`
			RateControl struct {
				FrameRateLimit float64 `xml:"FrameRateLimit"`
			} `xml:"RateControl"`
		} `xml:"VideoEncoderConfiguration"`
	} `xml:"Profiles"`
}

// maxProfiles bounds what one answer may list.
const maxProfiles = 64

// ParseProfiles decodes a GetProfilesResponse envelope. Profiles without a
// token are left out (nothing can be asked about them); out-of-range
// resolutions read as 0.
func ParseProfiles(data []byte) ([]Profile, error) {
	_, x, err := parseBody[profilesXML](data, "GetProfilesResponse")
	if err != nil {
		return nil, err
	}
	var out []Profile
	for _, p := range x.Profiles {
		if len(out) == maxProfiles {
			break
		}
		pr := Profile{Token: clean(p.Token), Name: clean(p.Name)}
		if pr.Token == "" {
			continue
		}
		if v := p.Video; v != nil {
			pr.Encoding = clean(v.Encoding)
			if w, h := v.Resolution.Width, v.Resolution.Height; w > 0 && h > 0 && w <= 16384 && h <= 16384 {
				pr.Width, pr.Height = w, h
			}
			if f := v.RateControl.FrameRateLimit; f > 0 && f <= 1000 {
				pr.FPS = f
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

// ProfilesResponse is the body a device answers GetProfiles with.
func ProfilesResponse(ps []Profile) string {
	var b strings.Builder
	b.WriteString("<trt:GetProfilesResponse>")
	for _, p := range ps {
		fmt.Fprintf(&b, `<trt:Profiles token="%s" fixed="true"><tt:Name>%s</tt:Name>`, esc(p.Token), esc(p.Name))
		if p.Encoding != "" {
			fmt.Fprintf(&b, `<tt:VideoEncoderConfiguration token="%s-enc"><tt:Name>%s</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%s</tt:Encoding>`+
				`<tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>`+
				`<tt:RateControl><tt:FrameRateLimit>%g</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>`+
				`<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>`,
				esc(p.Token), esc(p.Name), esc(p.Encoding), p.Width, p.Height, p.FPS)
		}
		b.WriteString("</trt:Profiles>")
	}
	b.WriteString("</trt:GetProfilesResponse>")
	return b.String()
}

type streamURIXML struct {
	MediaUri struct {
		Uri string `xml:"Uri"`
	} `xml:"MediaUri"`
}

// ParseStreamURI decodes a GetStreamUriResponse envelope; the URI must be
// rtsp:// or rtsps://.
func ParseStreamURI(data []byte) (string, error) {
	_, x, err := parseBody[streamURIXML](data, "GetStreamUriResponse")
	if err != nil {
		return "", err
	}
	u := clean(x.MediaUri.Uri)
	if !strings.HasPrefix(u, "rtsp://") && !strings.HasPrefix(u, "rtsps://") {
		return "", fmt.Errorf("%w: stream URI is not rtsp:// (%d bytes)", ErrMalformed, len(u))
	}
	return u, nil
}

// StreamURIResponse is the body a device answers GetStreamUri with.
func StreamURIResponse(uri string) string {
	return "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>" + esc(uri) +
		"</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"
}
