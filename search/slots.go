package search

import "time"

// Slots is a placeholder until the hours engine lands.
func Slots(schedules []map[string]any, loc *time.Location) []string { return nil }
