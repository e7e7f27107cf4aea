# A tiny shell "library" the demo agent fixes: add() has a bug.
add() {
  echo $(($1 - $2))
}

mul() {
  echo $(($1 * $2))
}
