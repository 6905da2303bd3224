package attribution

import "testing"

func TestCSVTextCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Acme Corp", "Acme Corp"},
		{"", ""},
		{`=HYPERLINK("http://x.example","pay")`, `'=HYPERLINK("http://x.example","pay")`},
		{"+1+2", "'+1+2"},
		{"-1-1", "'-1-1"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
	}
	for _, tc := range tests {
		if got := text(tc.in); got != tc.want {
			t.Errorf("text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
