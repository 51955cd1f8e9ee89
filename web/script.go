package web

import _ "embed"

// The two character lists are derived from OpenCC 1.1.6's dictionaries
// (Apache-2.0): simplified.txt holds the characters STCharacters converts
// that no traditional form (STCharacters' targets, TWVariants, HKVariants)
// uses; traditional.txt the characters TSCharacters converts (and the
// Taiwan and Hong Kong variants) that no simplified form uses. A character
// both scripts write (后, 台, 于, 群) is in neither.
var (
	//go:embed script/simplified.txt
	simplifiedList string
	//go:embed script/traditional.txt
	traditionalList string

	simplifiedOnly  = runeSet(simplifiedList)
	traditionalOnly = runeSet(traditionalList)
)

func runeSet(s string) map[rune]bool {
	m := map[rune]bool{}
	for _, r := range s {
		if r != '\n' {
			m[r] = true
		}
	}
	return m
}

// SimplifiedOnly reports whether r is written only in simplified Chinese
// (为, 体, 发), never in traditional.
func SimplifiedOnly(r rune) bool { return simplifiedOnly[r] }

// TraditionalOnly reports whether r is written only in traditional Chinese
// (為, 體, 發), never in simplified.
func TraditionalOnly(r rune) bool { return traditionalOnly[r] }

// Script returns the Chinese script text is written in: LangHant if it has
// more traditional-only characters than simplified-only ones, LangZH if
// fewer, "" if as many (none at all, or text in neither script).
func Script(texts ...string) string {
	n := 0
	for _, t := range texts {
		for _, r := range t {
			switch {
			case traditionalOnly[r]:
				n++
			case simplifiedOnly[r]:
				n--
			}
		}
	}
	switch {
	case n > 0:
		return LangHant
	case n < 0:
		return LangZH
	}
	return ""
}
