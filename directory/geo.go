package directory

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"

	"github.com/secondchancekc/secondchance/data"
)

// Point is a place on the globe in degrees.
type Point struct{ Lat, Lon float64 }

// zipCentroids maps each 5-digit ZIP (ZCTA) to its Census internal point.
// It is read from the embedded CSV the first time a search needs it.
var zipCentroids = sync.OnceValues(func() (map[string]Point, error) {
	const name = "geo/us-zcta-centroids-2021.csv"
	f, err := data.FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil { // zip,latitude,longitude
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m := make(map[string]Point, 34000)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		lat, err1 := strconv.ParseFloat(rec[1], 64)
		lon, err2 := strconv.ParseFloat(rec[2], 64)
		if err1 != nil || err2 != nil {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("%s line %d: bad coordinates", name, line)
		}
		m[rec[0]] = Point{lat, lon}
	}
})

// ZIPCentroid returns the centroid of a 5-digit ZIP code, and whether we
// know it.
func ZIPCentroid(zip string) (Point, bool, error) {
	m, err := zipCentroids()
	if err != nil {
		return Point{}, false, err
	}
	p, ok := m[zip]
	return p, ok, nil
}

// EarthRadiusMiles is the radius of the sphere distances are measured on.
const EarthRadiusMiles = 3958.8

// Miles is the great-circle distance between a and b.
func Miles(a, b Point) float64 {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLon := rad(b.Lat-a.Lat), rad(b.Lon-a.Lon)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * EarthRadiusMiles * math.Asin(math.Sqrt(min(1, h)))
}
