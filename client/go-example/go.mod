module pganalytics.example/go-example

go 1.23

require github.com/pganalytics/pganalytics-go v0.0.0

require gopkg.in/validator.v2 v2.0.1 // indirect

// The generated client (docs/SDK_CLIENTS.md): openapi-generator writes it into ./pganalytics.
replace github.com/pganalytics/pganalytics-go => ./pganalytics
