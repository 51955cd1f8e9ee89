// Package auth is who may do what in taizhang: the principal a request
// acts as (a user of the users chain and how it signed in), the one
// authorisation table (rules: action x role x scope, Decide), the stores of
// credentials kept apart from the ledger (API token hashes, password
// hashes, web sessions), the access log's entries, and sign-in rate
// limits. It knows no HTTP: the server's gate (package gate, Gate.Handle)
// authenticates a request and asks Decide; auth/natskv keeps the
// credentials in JetStream KV buckets and auth/natsaccess the access log on
// its own stream.
package auth
