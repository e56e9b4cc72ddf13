package yamlsrc

import (
	"sort"
	"strconv"
	"strings"
)

// MaxEdits is how far (in edits, see Distance) a candidate may be from a
// misspelt name of n characters to be suggested: one edit for names of up
// to 5 characters, two for longer ones. One edit in a short name is already
// a large part of it ("dbx" -> "db"); more than two edits is rarely a typo.
func MaxEdits(n int) int {
	return min(2, max(1, n/3))
}

// Suggest returns the candidates close enough to name to be what was meant
// (case-insensitive Distance at most MaxEdits(len(name)); a candidate that
// differs only in case is at distance 0), best first (nearest, then
// alphabetical), at most three, without duplicates. It is the one
// did-you-mean of pgplay: module names and arguments, keywords, roles,
// hosts and groups, variables, flags, tasks.
func Suggest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	limit := MaxEdits(len([]rune(name)))
	lname := strings.ToLower(name)
	seen := map[string]bool{}
	var out []scored
	for _, c := range candidates {
		if seen[c] || c == name {
			continue
		}
		seen[c] = true
		if d := Distance(lname, strings.ToLower(c)); d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	names := make([]string, 0, min(len(out), 3))
	for i, s := range out {
		if i == 3 {
			break
		}
		names = append(names, s.s)
	}
	return names
}

// DidYouMean formats Suggest's answer as a hint prefix:
// `did you mean "x"? ` or `did you mean "x" or "y"? `, "" when none.
func DidYouMean(name string, candidates []string) string {
	s := Suggest(name, candidates)
	if len(s) == 0 {
		return ""
	}
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return "did you mean " + strings.Join(q, " or ") + "? "
}

// Distance is the edit distance between a and b, in characters: the
// Levenshtein distance with a swap of two neighbours counting as one edit
// (optimal string alignment), so "pgsql" and "pgslq" are 1 apart.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d = min(d, prev2[j-2]+1) // transposition
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
