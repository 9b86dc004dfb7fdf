#!/usr/bin/env bash
# Configures the local PostgreSQL (127.0.0.1:5432, trust auth, user postgres) for the TLS tests of
# the PostgreSQL audit store, and prints the URL the tests read from OBSERVA_TEST_POSTGRES_TLS_URL.
#
# - a self-signed CA and a server certificate for localhost / 127.0.0.1 (openssl), kept in
#   <data_directory>/observa-tls and reused while valid; plus an unrelated CA (wrong-ca.crt) that
#   the tests use to prove that verification fails against the wrong root;
# - ssl = on with that certificate (ALTER SYSTEM + reload);
# - a database `observa_tls` whose defaults are what the audit writer must override:
#   default_transaction_isolation = 'repeatable read' and synchronous_commit = off.
#
# Idempotent; safe to rerun. Run as root or as the postgres user. Usage:
#   export OBSERVA_TEST_POSTGRES_TLS_URL="$(bash scripts/ci-postgres-tls.sh)"
set -euo pipefail

HOST=127.0.0.1
PORT=5432
DB=observa_tls
psql_() { psql -h "$HOST" -p "$PORT" -U postgres -d postgres -X -Atq -v ON_ERROR_STOP=1 "$@"; }

for _ in $(seq 1 30); do
  pg_isready -h "$HOST" -p "$PORT" >/dev/null 2>&1 && break
  sleep 1
done

DATA="$(psql_ -c 'SHOW data_directory')"
DIR="$DATA/observa-tls"
mkdir -p "$DIR"

make_ca() { # name, subject
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$DIR/$1.key" -out "$DIR/$1.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
}

valid() {
  [ -s "$DIR/ca.crt" ] && [ -s "$DIR/server.crt" ] && [ -s "$DIR/server.key" ] && [ -s "$DIR/wrong-ca.crt" ] \
    && openssl verify -CAfile "$DIR/ca.crt" "$DIR/server.crt" >/dev/null 2>&1 \
    && openssl x509 -checkend 86400 -noout -in "$DIR/server.crt" >/dev/null 2>&1
}

if ! valid; then
  make_ca ca "observa test CA"
  make_ca wrong-ca "observa unrelated CA"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" -subj "/CN=localhost" >/dev/null 2>&1
  ext="$(mktemp)"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
    -CAcreateserial -out "$DIR/server.crt" -days 3650 -extfile "$ext" >/dev/null 2>&1
  rm -f "$ext" "$DIR/server.csr"
fi
# The server refuses a key readable by others.
OWNER="$(stat -c %U "$DATA")"
chown -R "$OWNER:" "$DIR" 2>/dev/null || true
chmod 0700 "$DIR"
chmod 0600 "$DIR"/*.key
chmod 0644 "$DIR"/*.crt

psql_ <<SQL >/dev/null
ALTER SYSTEM SET ssl = on;
ALTER SYSTEM SET ssl_cert_file = '$DIR/server.crt';
ALTER SYSTEM SET ssl_key_file = '$DIR/server.key';
ALTER SYSTEM RESET ssl_ca_file;
SELECT pg_reload_conf();
SQL

if [ -z "$(psql_ -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
  psql_ -c "CREATE DATABASE $DB" >/dev/null
fi
psql_ >/dev/null <<SQL
ALTER DATABASE $DB SET default_transaction_isolation = 'repeatable read';
ALTER DATABASE $DB SET synchronous_commit = off;
SQL

# The reload is asynchronous: wait until a verified TLS connection works.
ok=
for _ in $(seq 1 30); do
  if [ "$(psql "host=$HOST port=$PORT user=postgres dbname=$DB sslmode=verify-full sslrootcert=$DIR/ca.crt" \
      -X -Atq -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>/dev/null)" = "t" ]; then
    ok=1
    break
  fi
  sleep 1
done
if [ -z "$ok" ]; then
  echo "ci-postgres-tls: PostgreSQL does not accept verified TLS connections" >&2
  exit 1
fi

echo "postgres://postgres@$HOST:$PORT/$DB?sslmode=verify-full&sslrootcert=$DIR/ca.crt"
