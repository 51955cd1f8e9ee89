package pages

import "testing"

func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"/units/cun-1": "/units/cun-1", "": "/", "//evil.example": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "/a\r\nSet-Cookie: x": "/", "units": "/",
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPhotoListEscapes: the hand-built thumbnail list escapes a file name
// as the template would.
func TestPhotoListEscapes(t *testing.T) {
	got := string(photoList([]photoView{{SHA256: "ab", Alt: `x"><script>alert(1)</script>&`, Unit: "cun-1"}}, 240))
	want := `<ul class="photos"><li><a class="photo" href="/api/v1/blobs/ab?unit=cun-1" data-caption="x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;">` +
		`<img src="/thumbs/ab?w=240&amp;unit=cun-1" alt="x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;" loading="lazy"></a></li></ul>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if photoList(nil, 240) != "" {
		t.Fatal("an empty list renders")
	}
}
