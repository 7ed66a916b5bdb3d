package assets

import (
	"strings"
	"testing"
)

func TestModelTexts(t *testing.T) {
	lic := ModelLicence()
	for _, want := range []string{"CC BY-NC 4.0", "Llama 2 Community License", "Acceptable Use Policy", "not a medical device"} {
		if !strings.Contains(lic, want) {
			t.Errorf("licence notice lacks %q", want)
		}
	}
	cit := ModelCitation()
	for _, want := range []string{"Lee S", "Yoon SH", "European Radiology", "10.1007/s00330-024-11339-6", "2310.18341"} {
		if !strings.Contains(cit, want) {
			t.Errorf("citation lacks %q", want)
		}
	}
}
