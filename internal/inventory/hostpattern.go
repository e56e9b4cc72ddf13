package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// maxRangeHosts bounds what one host pattern may expand to, so that a typo
// such as db[1:10000000] is an error rather than an exhausted machine.
const maxRangeHosts = 100000

// splitPort splits Ansible's "host:port" (and "[v6addr]:port") form of an
// inventory host. Colons inside [ranges] are not port separators; a name
// with several colons outside brackets is an IPv6 address without a port.
func splitPort(pattern string) (string, int, error) {
	depth, last, outside := 0, -1, 0
	for i, r := range pattern {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case r == ':' && depth == 0:
			last = i
			outside++
		}
	}
	if strings.HasPrefix(pattern, "[") {
		// [2001:db8::1]:22
		if end := strings.Index(pattern, "]:"); end > 0 && strings.Count(pattern[1:end], ":") > 1 {
			port, err := strconv.Atoi(pattern[end+2:])
			if err != nil || port < 1 || port > 65535 {
				return "", 0, fmt.Errorf("invalid port %q after the address %s", pattern[end+2:], pattern[:end+1])
			}
			return pattern[1:end], port, nil
		}
	}
	if outside != 1 {
		return pattern, 0, nil // no port, or an IPv6 address
	}
	p := pattern[last+1:]
	if p == "" {
		return "", 0, fmt.Errorf("host %q ends in ':', which is reserved for a port", pattern)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("host %q: %q after ':' is not a port number (1-65535)", pattern, p)
	}
	return pattern[:last], port, nil
}

// expandRange expands Ansible's host ranges: db[01:03] (zero-padded),
// [a:c] (letters), [1:10:2] (with a step), several ranges in one name.
func expandRange(pattern string) ([]string, error) {
	open := strings.IndexByte(pattern, '[')
	if open < 0 {
		return []string{pattern}, nil
	}
	end := strings.IndexByte(pattern[open:], ']')
	if end < 0 {
		return nil, fmt.Errorf("host range in %q has no closing ]", pattern)
	}
	end += open
	head, spec, tail := pattern[:open], pattern[open+1:end], pattern[end+1:]
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host range [%s] in %q must be begin:end or begin:end:step", spec, pattern)
	}
	beg, stop, step := bounds[0], bounds[1], 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("host range [%s] in %q: the step %q is not a positive number", spec, pattern, bounds[2])
		}
		step = n
	}
	if beg == "" {
		beg = "0"
	}
	if stop == "" {
		return nil, fmt.Errorf("host range [%s] in %q has no end", spec, pattern)
	}
	var seq []string
	ib, ie := strings.Index(letters, beg), strings.Index(letters, stop)
	if len(beg) == 1 && len(stop) == 1 && ib >= 0 && ie >= 0 {
		if ib > ie {
			return nil, fmt.Errorf("host range [%s] in %q: begin is after end", spec, pattern)
		}
		for i := ib; i <= ie; i += step {
			seq = append(seq, letters[i:i+1])
		}
	} else {
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(stop)
		if err1 != nil || err2 != nil || b < 0 {
			return nil, fmt.Errorf("host range [%s] in %q: begin and end are both numbers or both single letters", spec, pattern)
		}
		if b > e {
			return nil, fmt.Errorf("host range [%s] in %q: begin is after end (it would name no host)", spec, pattern)
		}
		width := 0
		if beg[0] == '0' && len(beg) > 1 {
			if len(beg) != len(stop) {
				return nil, fmt.Errorf("host range [%s] in %q: a zero-padded begin needs an end of the same width (e.g. [01:10])", spec, pattern)
			}
			width = len(beg)
		}
		if (e-b)/step > maxRangeHosts {
			return nil, fmt.Errorf("host range [%s] in %q gives more than %d hosts", spec, pattern, maxRangeHosts)
		}
		for i := b; i <= e; i += step {
			seq = append(seq, fmt.Sprintf("%0*d", width, i))
		}
	}
	var out []string
	for _, s := range seq {
		more, err := expandRange(head + s + tail)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
		if len(out) > maxRangeHosts {
			return nil, fmt.Errorf("host pattern %q gives more than %d hosts", pattern, maxRangeHosts)
		}
	}
	return out, nil
}

// expandHost turns an inventory host entry (a name, a range, either with
// :port) into host names and a port (0: none given).
func expandHost(pattern string) ([]string, int, error) {
	name, port, err := splitPort(pattern)
	if err != nil {
		return nil, 0, err
	}
	names, err := expandRange(name)
	if err != nil {
		return nil, 0, err
	}
	return names, port, nil
}
