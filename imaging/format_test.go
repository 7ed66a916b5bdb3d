package imaging

import "testing"

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{FormatDA("20120115"), "2012-01-15"},
		{FormatDA(" 20120115 "), "2012-01-15"},
		{FormatDA("2012"), "2012"},
		{FormatDA("2012-01-15"), "2012-01-15"},
		{FormatDA(""), ""},
		{FormatTM("213247.123", false), "21:32"},
		{FormatTM("213247.123", true), "21:32:47"},
		{FormatTM("2132", true), "21:32"},
		{FormatTM("21", true), "21"},
		{FormatTM("ab3247", true), "ab3247"},
		{FormatTM(" 081500 ", false), "08:15"},
		{FormatPN("DOE^JANE^Q^^"), "DOE, JANE Q"},
		{FormatPN("Anonymous"), "Anonymous"},
		{FormatPN("Yamada^Tarou=山田^太郎"), "Yamada, Tarou"},
		{FormatPN("Smith^John^^Dr^Jr"), "Dr Smith, John Jr"},
		{FormatPN("^Cher"), "Cher"},
		{FormatPN(" Doe ^ John "), "Doe, John"},
		{FormatPN(""), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
