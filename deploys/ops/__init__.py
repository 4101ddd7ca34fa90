"""The operator's commands outside a deploy (`make status`, `backup`, `restore`, `rollback`,
`ship`, ...): the command line (cli), pyinfra's own connection to a target (remote), an image
shipped over SSH without a registry (ship)."""
