package pool

import (
	"fmt"
	"time"

	// The manager knows every time zone whatever its image holds: a static image has no zoneinfo.
	_ "time/tzdata"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// windowState is where a moment stands against a rollout's maintenance windows.
type windowState struct {
	// open is true while a window is open.
	open bool
	// next is when the state may change next: the start or the end of a window, in the windows'
	// time zone. Zero when no window ever opens or closes (which validation rules out).
	next time.Time
}

var weekdays = map[hotelv1alpha1.Weekday]time.Weekday{
	"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday,
}

// maintenanceWindows returns where now stands against m's windows. An error names what cannot be
// read (a time zone unknown to the manager, a malformed start), for the spec to stall as invalid.
//
// A window opens on each of its days at its start, the local time of the day in m's time zone, and
// closes its duration later (an absolute duration: a window that spans a change to or from daylight
// saving time keeps its length). Windows may overlap and may run past midnight, for up to a week;
// so every opening from eight days before now to eight days after is considered.
func maintenanceWindows(now time.Time, m *hotelv1alpha1.Maintenance) (windowState, error) {
	zone := m.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return windowState{}, fmt.Errorf("spec.rollout.maintenance.timeZone %q is not a time zone the manager knows: %w", m.TimeZone, err)
	}
	local := now.In(loc)
	var st windowState
	later := func(t time.Time) {
		if t.After(now) && (st.next.IsZero() || t.Before(st.next)) {
			st.next = t
		}
	}
	for i, w := range m.Windows {
		var hour, minute int
		if _, err := fmt.Sscanf(w.Start, "%d:%d", &hour, &minute); err != nil || hour > 23 || minute > 59 {
			return windowState{}, fmt.Errorf("spec.rollout.maintenance.windows[%d].start %q is not HH:MM", i, w.Start)
		}
		if w.Duration.Duration <= 0 {
			return windowState{}, fmt.Errorf("spec.rollout.maintenance.windows[%d].duration must be positive", i)
		}
		days := map[time.Weekday]bool{}
		for _, d := range w.Days {
			wd, ok := weekdays[d]
			if !ok {
				return windowState{}, fmt.Errorf("spec.rollout.maintenance.windows[%d].days: %q is not a day", i, d)
			}
			days[wd] = true
		}
		for offset := -8; offset <= 8; offset++ {
			// Noon: a day's midnight may not exist (a zone that moves its clocks at midnight).
			day := time.Date(local.Year(), local.Month(), local.Day()+offset, 12, 0, 0, 0, loc)
			if !days[day.Weekday()] {
				continue
			}
			start := localStart(day, hour, minute)
			end := start.Add(w.Duration.Duration)
			if !now.Before(start) && now.Before(end) {
				st.open = true
			}
			later(start)
			later(end)
		}
	}
	return st, nil
}

// localStart returns the instant at which the local clock of day's zone shows hour:minute on day,
// or, if it never does (the hour skipped when clocks move forward), the first instant after.
func localStart(day time.Time, hour, minute int) time.Time {
	loc := day.Location()
	start := time.Date(day.Year(), day.Month(), day.Day(), hour, minute, 0, 0, loc)
	want := wallClock(day.Year(), day.Month(), day.Day(), hour, minute)
	if wallClock(start.Year(), start.Month(), start.Day(), start.Hour(), start.Minute()) == want {
		return start
	}
	// In the gap: time.Date chose some instant near it. Step to the first whole minute whose local
	// clock reads at least the wanted time; gaps last at most a few hours.
	t := start.Add(-3 * time.Hour).Truncate(time.Minute)
	for range 6 * 60 {
		l := t.In(loc)
		if wallClock(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute()) >= want {
			return t
		}
		t = t.Add(time.Minute)
	}
	return start
}

// wallClock orders local clock readings: YYYYMMDDhhmm.
func wallClock(year int, month time.Month, day, hour, minute int) int64 {
	return (((int64(year)*100+int64(month))*100+int64(day))*100+int64(hour))*100 + int64(minute)
}
