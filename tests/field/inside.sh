#!/usr/bin/env bash
# Runs inside the booted Debian 12 container (tests/field/run.sh): the ops
# story of README.md's "Operating menusync", command by command as the README
# gives them, each step asserting what it saw. The web hosts web1 and web2
# are this container's own sshd (names in /etc/hosts), reached as `deploy`
# with Debian 12's rsync; the POS is tests/field/mock_pos.py on loopback.
set -euo pipefail
cd /root/field

STATE=/var/lib/menusync
CONFIG=/etc/menusync/stores.toml
POS_HQ_KEY=field-test-key-$RANDOM$RANDOM
started=$SECONDS

say() { printf '[inside %3ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
    say "FAILED: $*"
    echo "----- journalctl -u menusync (last 60 lines)"
    journalctl -u menusync -n 60 --no-pager -o short-precise || true
    echo "----- systemctl status menusync"
    systemctl status menusync --no-pager || true
    exit 1
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "waited ${limit}s for: $what"
        sleep 0.5
    done
}
main_pid() { systemctl show -p MainPID --value menusync; }
status_json() { menusync status --json 2>/dev/null || true; }
current_release() { readlink "$STATE/stores/$1/current" | sed 's#^releases/##'; }
# Every target of STORE holds the local current release (per `status --json`).
targets_have_current() {
    local store=$1 release
    release=$(current_release "$store") || return 1
    [ -n "$release" ] || return 1
    status_json | jq -e --arg s "$store" --arg r "$release" \
        '.[] | select(.store == $s) | (.targets | length > 0) and ([.targets[] | .release == $r] | all)'
}
set_price() { # STORE_FOLDER ITEM PRICE: the POS changes a price
    local file=pos/$1/menu.json
    jq --arg id "$2" --argjson price "$3" \
        '(.items[] | select(.itemId == $id) | .price) = $price' "$file" >"$file.new"
    mv "$file.new" "$file"
}
published_price() { # FILE ITEM
    jq -r --arg id "$2" '[.categories[].items[] | select(.id == $id) | .price][0]' "$1" 2>/dev/null
}
no_half_release() { # every kept release of STORE is complete, current is one of them
    local store=$1 dir
    for dir in "$STATE/stores/$store"/releases/*/; do
        jq -e . "$dir/data/menu.json" >/dev/null || fail "incomplete release $dir"
    done
    jq -e . "$STATE/stores/$store/current/data/menu.json" >/dev/null ||
        fail "current of $store is not a complete release"
}

# ---------------------------------------------------------------------------
say "install: apt install ./menusync_*.deb (dependencies from apt's cache, no network)"
# -y: nobody answers here. The copy has the dependencies in apt's cache.
DEBIAN_FRONTEND=noninteractive sudo apt install -y ./menusync_*.deb >apt.log 2>&1 ||
    { cat apt.log; fail "apt could not install the package"; }
dpkg -s ca-certificates | grep -q '^Status: install ok installed' || fail "ca-certificates not installed"
id menusync >/dev/null || fail "no menusync user"
[ -f "$CONFIG" ] || fail "no $CONFIG"
[ "$(stat -c %U "$STATE")" = menusync ] || fail "$STATE is not menusync's"
[ "$(stat -c %a /etc/menusync/credentials)" = 700 ] || fail "credentials folder not 0700"
[ "$(systemctl is-enabled menusync || true)" = disabled ] || fail "the unit is enabled on install"

say "the web hosts: sshd on this host as web1 and web2, user deploy"
echo "127.0.0.1 web1.example.com web2.example.com" >>/etc/hosts
useradd --create-home --shell /bin/sh deploy
install -d -o deploy -g deploy /srv/blissworld /srv/blissworld-releases
install -d -o menusync -g menusync /srv/local
systemctl is-active --quiet ssh || systemctl start ssh
wait_for 10 "sshd listening" bash -c 'echo >/dev/tcp/127.0.0.1/22'

say "the POS: the reference protocol on loopback"
printf '%s\n' "$POS_HQ_KEY" >pos-key
systemd-run --quiet --unit=mock-pos python3 /root/field/mock_pos.py /root/field/pos \
    /root/field/pos-key /run/mock-pos.port
wait_for 10 "the mock POS port" test -s /run/mock-pos.port
POS_PORT=$(cat /run/mock-pos.port)

say "keys, exactly as the README gives them"
sudo install -m 0600 /dev/stdin /etc/menusync/credentials/pos-hq <<<"$POS_HQ_KEY"
sudo -u menusync ssh-keygen -q -t ed25519 -N '' -f /var/lib/menusync/.ssh/id_ed25519
for host in web1.example.com web2.example.com; do
    ssh-keyscan "$host" 2>/dev/null | sudo -u menusync tee -a /var/lib/menusync/.ssh/known_hosts >/dev/null
done
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
install -m 0600 -o deploy -g deploy /var/lib/menusync/.ssh/id_ed25519.pub /home/deploy/.ssh/authorized_keys

# What `sudoedit /etc/menusync/stores.toml` would leave:
say "stores.toml: two stores, a files-mode and a releases-mode web host, a local target"
cat >"$CONFIG" <<EOF
[daemon]
state_dir = "/var/lib/menusync"
schedule = "*/2 * * * * *"
stale_after_secs = 6
shutdown_timeout_secs = 20

[pos.hq]
kind = "http"
base_url = "http://127.0.0.1:$POS_PORT/"
api_key_credential = "pos-hq"
retries = 1
breaker_cooldown_secs = 2

[target.web1]
kind = "rsync"
dest = "deploy@web1.example.com:/srv/blissworld"

[target.web2]
kind = "rsync"
dest = "deploy@web2.example.com:/srv/blissworld-releases"
mode = "releases"
keep_releases = 3

[target.local]
kind = "rsync"
dest = "/srv/local"

[[store]]
id = "gangnam"
name = "블리스월드 강남점"
pos = "hq"
pos_store_id = "S001"
targets = ["web1", "web2", "local"]

[[store]]
id = "hongdae"
name = "블리스월드 홍대점"
pos = "hq"
pos_store_id = "S002"
targets = ["web1", "web2"]
EOF
# A local target outside /var/lib/menusync needs ReadWritePaths=, as the README says.
mkdir -p /etc/systemd/system/menusync.service.d
printf '[Service]\nReadWritePaths=/srv/local\n' >/etc/systemd/system/menusync.service.d/local.conf
systemctl daemon-reload

say "menusync check (no --config: the installed /etc/menusync/stores.toml)"
out=$(sudo menusync check) || fail "check refused the config: $out"
grep -q '/etc/menusync/stores.toml: ok (2 stores' <<<"$out" || fail "check said: $out"

say "systemctl enable --now menusync: READY, STATUS, published everywhere"
sudo systemctl enable --now menusync || fail "the unit did not start"
[ "$(systemctl is-active menusync)" = active ] || fail "not active after start"
wait_for 60 "gangnam on every target" targets_have_current gangnam
wait_for 60 "hongdae on every target" targets_have_current hongdae
# STATUS= is rewritten at most every 2 s after passes end, so it may lag a moment.
wait_for 15 "systemctl status showing both stores' passes" bash -c \
    "systemctl status menusync --no-pager | grep -qE '^ +Status: \"2 stores ok, 0 failing, last pass [0-9:]+Z\"'"
say "STATUS=$(systemctl show -p StatusText --value menusync)"
local_menu=$STATE/stores/gangnam/current/data/menu.json
cmp "$local_menu" /srv/blissworld/gangnam/data/menu.json || fail "web1 (files) menu differs"
cmp "$local_menu" /srv/blissworld-releases/gangnam/current/data/menu.json || fail "web2 (releases) menu differs"
cmp "$local_menu" /srv/local/gangnam/data/menu.json || fail "local menu differs"

say "several releases in a row reach both modes over ssh (Debian 12's rsync)"
for price in 4100 4200 4300 4400; do
    before=$(current_release gangnam)
    set_price S001 I100 "$price"
    wait_for 30 "a new release for price $price" bash -c "[ \"\$(readlink $STATE/stores/gangnam/current)\" != releases/$before ]"
    wait_for 60 "release with price $price on every target" targets_have_current gangnam
    release=$(current_release gangnam)
    [ "$(readlink /srv/blissworld-releases/gangnam/current)" = "releases/$release" ] ||
        fail "web2's current is $(readlink /srv/blissworld-releases/gangnam/current), not $release"
    for menu in /srv/blissworld/gangnam/data/menu.json /srv/blissworld-releases/gangnam/current/data/menu.json; do
        [ "$(published_price "$menu" I100)" = "$price" ] || fail "$menu does not show price $price"
    done
done
remote_releases=$(find /srv/blissworld-releases/gangnam/releases -mindepth 1 -maxdepth 1 | wc -l)
[ "$remote_releases" = 3 ] || fail "web2 keeps $remote_releases releases, not keep_releases = 3"
if journalctl -u menusync -p warning --no-pager -o cat | grep -q .; then
    journalctl -u menusync -p warning --no-pager
    fail "warnings while every POS call and push succeeded"
fi

say "journal: one TARGET per entry, the web host under DEPLOY_TARGET"
journalctl -u menusync -o json --no-pager | jq -e -s '
    [.[] | select(.DEPLOY_TARGET != null)] as $deploys
    | ($deploys | length > 0)
      and ($deploys | all(.TARGET | type == "string"))
      and ($deploys | all(.STORE != null and .POS != null and .RUN != null and .STAGE != null))' \
    >/dev/null || fail "deploy entries do not carry exactly one TARGET and the pass fields"

say "the POS stops: journalctl -u menusync STORE=gangnam -p warning names the store and its category"
systemctl stop mock-pos
wait_for 30 "a network warning for gangnam" bash -c \
    "journalctl -u menusync STORE=gangnam CATEGORY=network -p warning --no-pager -o cat | grep -q 'failed network'"
journalctl -u menusync STORE=gangnam -p warning --no-pager -o cat | tail -n 2
wait_for 30 "gangnam stale: an error and status exit 1" bash -c \
    "journalctl -u menusync STORE=gangnam -p err --no-pager -o cat | grep -q stale && ! menusync status"
cmp "$local_menu" /srv/blissworld/gangnam/data/menu.json || fail "the last good menu is no longer served"
systemd-run --quiet --unit=mock-pos-2 python3 /root/field/mock_pos.py /root/field/pos \
    /root/field/pos-key /run/mock-pos.port "$POS_PORT"
wait_for 30 "gangnam healthy again" bash -c "menusync status >/dev/null"

say "systemctl reload with a valid change: a new store syncs"
cat >>"$CONFIG" <<'EOF'

[[store]]
id = "jamsil"
name = "블리스월드 잠실점"
pos = "hq"
pos_store_id = "S003"
targets = ["web1"]
EOF
pid=$(main_pid)
sudo systemctl reload menusync || fail "reload of a valid file failed"
wait_for 30 "jamsil published on web1" test -f /srv/blissworld/jamsil/data/menu.json
[ "$(main_pid)" = "$pid" ] || fail "the reload restarted the daemon"

say "systemctl reload with a broken file: the command fails, the journal gives the line, the old config runs"
cp "$CONFIG" stores.good
printf '\n[[store]]\nid = "Bad Id!"\nname = "x"\npos = "hq"\npos_store_id = "S9"\n' >>"$CONFIG"
bad_line=$(grep -n 'Bad Id' "$CONFIG" | cut -d: -f1)
if sudo systemctl reload menusync 2>/dev/null; then fail "reload of a broken file succeeded"; fi
wait_for 10 "the line of the error in the journal" bash -c \
    "journalctl -u menusync --no-pager -o cat | grep -q 'stores.toml:$bad_line:'"
[ "$(systemctl is-active menusync)" = active ] || fail "a refused reload stopped the daemon"
[ "$(main_pid)" = "$pid" ] || fail "a refused reload restarted the daemon"
before=$(current_release jamsil)
set_price S003 "$(jq -r '.items[0].itemId' pos/S003/menu.json)" 8800 # within the price gate (50%)
wait_for 30 "jamsil still synced under the old config" bash -c \
    "[ \"\$(readlink $STATE/stores/jamsil/current)\" != releases/$before ]"
cp stores.good "$CONFIG"
sudo systemctl reload menusync || fail "reload after the fix failed"

say "watchdog: a frozen daemon is restarted"
printf '[Service]\nWatchdogSec=3s\n' >/etc/systemd/system/menusync.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart menusync
pid=$(main_pid)
restarts=$(systemctl show -p NRestarts --value menusync)
kill -STOP "$pid"
wait_for 40 "a restart after the watchdog fired" bash -c \
    "[ \"\$(systemctl show -p NRestarts --value menusync)\" -gt $restarts ] && [ \"\$(systemctl is-active menusync)\" = active ]"
journalctl -u menusync --no-pager -o cat | grep -qi 'watchdog timeout' || fail "no watchdog timeout in the journal"
rm /etc/systemd/system/menusync.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart menusync

say "systemctl stop in the middle of a pass: clean, nothing half published"
echo 3 >pos/DELAY
set_price S001 I100 4700
sleep 2.5 # the next tick starts a pass that waits on the slow POS
systemctl kill -s USR1 menusync
sleep 1
sudo systemctl stop menusync
[ "$(systemctl show -p Result --value menusync)" = success ] ||
    fail "stop result $(systemctl show -p Result --value menusync)"
[ "$(systemctl show -p ExecMainStatus --value menusync)" = 0 ] || fail "non-zero exit on stop"
no_half_release gangnam
rm pos/DELAY

say "kill -9: systemd restarts it, current intact"
sudo systemctl start menusync
wait_for 30 "a pass after start" targets_have_current gangnam
pid=$(main_pid)
systemctl kill -s KILL menusync
wait_for 30 "a restart after kill -9" bash -c \
    "[ \"\$(systemctl is-active menusync)\" = active ] && [ \"\$(systemctl show -p MainPID --value menusync)\" != $pid ]"
no_half_release gangnam
wait_for 30 "gangnam on every target after the restart" targets_have_current gangnam

say "menusync status, releases, rollback, diff, run as the README shows them"
out=$(sudo menusync status) || fail "status failed: $out"
grep -q gangnam <<<"$out" || fail "status does not list gangnam: $out"
out=$(sudo menusync releases gangnam) || fail "releases failed: $out"
[ "$(grep -c '^ *m-[0-9a-f]\{20\} ' <<<"$out" || true)" -ge 2 ] || fail "fewer than two releases listed: $out"
newest=$(current_release gangnam)
sudo menusync rollback gangnam || fail "rollback failed"
rolled=$(current_release gangnam)
[ "$rolled" != "$newest" ] || fail "rollback left current at $newest"
wait_for 30 "the rolled-back release on every target" targets_have_current gangnam
sleep 3 # passes run; the rollback holds while the POS is unchanged
[ "$(current_release gangnam)" = "$rolled" ] || fail "the rollback did not hold"
wrong=$(find "$STATE" /srv/local \( ! -user menusync -o ! -group menusync \) -print | head -n 5)
[ -z "$wrong" ] || fail "files not owned by menusync after root ran rollback: $wrong"
out=$(sudo menusync diff gangnam) || fail "diff failed: $out"
say "diff: $(head -n 1 <<<"$out")"

say "a missing credential file: the unit still starts and the journal names the file"
mv /etc/menusync/credentials/pos-hq credential.saved
systemctl restart menusync || fail "the unit did not start without its credential file"
wait_for 30 "the missing file named in the journal" bash -c \
    "journalctl -u menusync STORE=gangnam -p warning --no-pager -o cat | grep -q '/etc/menusync/credentials/pos-hq'"
mv credential.saved /etc/menusync/credentials/pos-hq
systemctl restart menusync

say "apt remove, then apt purge"
sudo apt remove -y menusync >apt.log 2>&1 || { cat apt.log; fail "apt remove failed"; }
[ ! -e /usr/bin/menusync ] || fail "the binary is still there after remove"
[ -f "$CONFIG" ] || fail "remove deleted the config (a conffile stays until purge)"
[ "$(systemctl is-active menusync || true)" != active ] || fail "still running after remove"
sudo apt purge -y menusync >apt.log 2>&1 || { cat apt.log; fail "apt purge failed"; }
[ ! -e "$CONFIG" ] || fail "purge left $CONFIG"

say "every step passed"
