package httpapi

import "testing"

func TestServedAs(t *testing.T) {
	webm := []byte{0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0xf7, 0x81}
	for _, c := range []struct {
		ctype  string
		rec    string
		head   []byte
		want   string
		inline bool
	}{
		{"image/png", "", []byte("\x89PNG\r\n\x1a\n"), "image/png", true},
		{"image/svg+xml", "", []byte("<svg xmlns="), "application/octet-stream", false},
		{"text/html", "", []byte("<html><scri"), "application/octet-stream", false},
		{"audio/webm", "", webm, "audio/webm", true},
		{"audio/webm;codecs=opus", "", webm, "audio/webm", true},
		{"AUDIO/WEBM", "", webm, "audio/webm", true},
		{"audio/ogg", "", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), "audio/ogg", true},
		{"application/ogg", "", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), "audio/ogg", true},
		{"audio/mpeg", "", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00"), "audio/mpeg", true},
		{"audio/mpeg", "", []byte{0xff, 0xfb, 0x90, 0x64}, "audio/mpeg", true},
		{"audio/mp4", "", []byte("\x00\x00\x00\x20ftypM4A "), "audio/mp4", true},
		{"audio/x-m4a", "", []byte("\x00\x00\x00\x20ftypM4A "), "audio/mp4", true},
		{"audio/wav", "", []byte("RIFF\x24\x00\x00\x00WAVE"), "audio/wav", true},
		// an audio type whose bytes are something else (HTML, a short file) is a download
		{"audio/webm", "", []byte("<html><body>"), "application/octet-stream", false},
		{"audio/ogg", "", []byte("Og"), "application/octet-stream", false},
		{"audio/mp4", "", nil, "application/octet-stream", false},
		{"audio/wav", "", []byte("RIFF\x24\x00\x00\x00AVI "), "application/octet-stream", false},
		// audio types without a signature check are downloads, as is video
		{"audio/flac", "", []byte("fLaC\x00\x00\x00\x22"), "application/octet-stream", false},
		{"video/webm", "", webm, "application/octet-stream", false},
		{"", "", webm, "application/octet-stream", false},
		// the media store names a memo's type by its extension; the transcript's audio type counts
		{"video/webm", "audio/webm", webm, "audio/webm", true},
		{"application/octet-stream", "audio/ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), "audio/ogg", true},
		{"video/webm", "audio/webm", []byte("<html><body>"), "application/octet-stream", false},
		{"text/html", "audio/webm", []byte("<html><body>"), "application/octet-stream", false},
		{"image/svg+xml", "image/png", []byte("<svg xmlns="), "application/octet-stream", false},
	} {
		got, inline := servedAs(c.ctype, c.rec, c.head)
		if got != c.want || inline != c.inline {
			t.Errorf("servedAs(%q, %q, %q) = %q, %v; want %q, %v", c.ctype, c.rec, c.head, got, inline, c.want, c.inline)
		}
	}
}
