package pool

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

func window(start string, d time.Duration, days ...hotelv1alpha1.Weekday) hotelv1alpha1.MaintenanceWindow {
	return hotelv1alpha1.MaintenanceWindow{Days: days, Start: start, Duration: metav1.Duration{Duration: d}}
}

func TestMaintenanceWindows(t *testing.T) {
	// Saturday 5 December 2026, 23:30 UTC.
	saturday := time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)
	// Sunday 8 March 2026, 03:30 in New York: daylight saving time began at 02:00 that morning.
	dstMorning := time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)
	tests := []struct {
		name     string
		now      time.Time
		m        hotelv1alpha1.Maintenance
		wantOpen bool
		wantNext time.Time
		wantErr  string
	}{
		{name: "inside a window: open until it closes", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("22:00", 4*time.Hour, "Sat")}},
			wantOpen: true, wantNext: time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)},
		{name: "before a window: closed until it opens", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("01:00", time.Hour, "Sun")}},
			wantNext: time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)},
		{name: "after a window: closed until next week's", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("20:00", time.Hour, "Sat")}},
			wantNext: time.Date(2026, 12, 12, 20, 0, 0, 0, time.UTC)},
		{name: "a window that opened the day before and runs past midnight", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("23:00", 48*time.Hour, "Fri")}},
			wantOpen: true, wantNext: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)},
		{name: "the earliest change of several windows", now: saturday,
			m: hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{
				window("03:00", time.Hour, "Sun", "Mon"), window("00:15", time.Hour, "Sun")}},
			wantNext: time.Date(2026, 12, 6, 0, 15, 0, 0, time.UTC)},
		{name: "in the windows' time zone", now: saturday, // 00:30 on Sunday in Berlin
			m: hotelv1alpha1.Maintenance{TimeZone: "Europe/Berlin",
				Windows: []hotelv1alpha1.MaintenanceWindow{window("00:00", time.Hour, "Sun")}},
			wantOpen: true, wantNext: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{name: "the same window in UTC has not opened yet", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("00:00", time.Hour, "Sun")}},
			wantNext: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{name: "across the start of daylight saving time a window keeps its length", now: dstMorning,
			m: hotelv1alpha1.Maintenance{TimeZone: "America/New_York",
				Windows: []hotelv1alpha1.MaintenanceWindow{window("01:00", 2*time.Hour, "Sun")}},
			// Opened at 01:00 EST (06:00 UTC), closes two hours later: 04:00 EDT (08:00 UTC).
			wantOpen: true, wantNext: time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC)},
		{name: "a window at a midnight the clocks skip opens when the day begins", // America/Santiago, 6 September 2026
			now: time.Date(2026, 9, 6, 3, 30, 0, 0, time.UTC), // 00:30 on Sunday, had the clocks not moved: 23:30 on Saturday before
			m: hotelv1alpha1.Maintenance{TimeZone: "America/Santiago",
				Windows: []hotelv1alpha1.MaintenanceWindow{window("00:00", 2*time.Hour, "Sun")}},
			// Clocks go from 24:00 -04 to 01:00 -03: the window opens at 01:00 -03 (04:00 UTC).
			wantNext: time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC)},
		{name: "a window in the hour the clocks skip opens when it ends", now: time.Date(2026, 3, 8, 6, 45, 0, 0, time.UTC),
			m: hotelv1alpha1.Maintenance{TimeZone: "America/New_York",
				Windows: []hotelv1alpha1.MaintenanceWindow{window("02:30", time.Hour, "Sun")}},
			// 02:30 does not exist on 8 March in New York: 03:00 EDT (07:00 UTC) is the first instant after.
			wantNext: time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		{name: "a week-long window is always open", now: saturday,
			m:        hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("00:00", 168*time.Hour, "Mon")}},
			wantOpen: true, wantNext: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{name: "an unknown time zone", now: saturday,
			m: hotelv1alpha1.Maintenance{TimeZone: "Mars/Olympus_Mons",
				Windows: []hotelv1alpha1.MaintenanceWindow{window("00:00", time.Hour, "Sun")}},
			wantErr: `timeZone "Mars/Olympus_Mons" is not a time zone the manager knows`},
		{name: "a malformed start", now: saturday,
			m:       hotelv1alpha1.Maintenance{Windows: []hotelv1alpha1.MaintenanceWindow{window("noon", time.Hour, "Sun")}},
			wantErr: `windows[0].start "noon" is not HH:MM`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			st, err := maintenanceWindows(tt.now, &tt.m)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.open).To(Equal(tt.wantOpen), "open")
			g.Expect(st.next.Equal(tt.wantNext)).To(BeTrue(), "next: %s, want %s", st.next.UTC(), tt.wantNext)
		})
	}
}
