#!/bin/bash
# Writes a gzipped man page for kapseld or kapselctl from the program's own --help (help2man)
# and the hand-written sections in NAME.h2m beside this script. For kapselctl, every command's
# --help is added as a COMMANDS section, so the page lists all options of all commands.
#
#   gen-man.sh BINARY SECTION VERSION OUTPUT.gz
set -euo pipefail
bin=$1 section=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
name=${bin##*/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

include=("--include=$here/$name.h2m")
if [[ $name == kapselctl ]]; then
  # The commands and their subcommands, from the "Subcommands:" sections of the help.
  subcommands() {
    "$bin" "$@" --help | awk '/^[A-Za-z]+:/ { s = ($1 == "Subcommands:") } s && /^  [a-z]/ { print $1 }'
  }
  # Help text as roff, verbatim: backslashes escaped, lines that would read as requests guarded.
  verbatim() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
  {
    echo '[COMMANDS]'
    for cmd in $(subcommands); do
      paths=("$cmd")
      for sub in $(subcommands "$cmd"); do paths+=("$cmd $sub"); done
      for path in "${paths[@]}"; do
        echo ".SS \"kapselctl $path\""
        echo '.nf'
        # shellcheck disable=SC2086  # path is "cmd" or "cmd sub"
        "$bin" $path --help | verbatim
        echo '.fi'
      done
    done
  } >"$tmp/commands.h2m"
  include+=("--include=$tmp/commands.h2m")
fi

# Through PATH, so that the usage lines say "kapseld", not the build directory's path.
mkdir "$tmp/bin"
ln -s "$(realpath "$bin")" "$tmp/bin/$name"
PATH="$tmp/bin:$PATH" help2man --no-info --section="$section" --version-string="$version" \
  --manual="kapsel" --source="kapsel $version" "${include[@]}" --output="$tmp/$name.$section" "$name"
gzip -9n <"$tmp/$name.$section" >"$out.tmp"
mv "$out.tmp" "$out"
