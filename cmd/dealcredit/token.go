package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"dealcredit/api"
	"dealcredit/cmd/dealcredit/demo"
)

// tokenCmd prints an API token of a role from the daemon's tokens file, so
// that examples need no JSON tool: TOKEN=$(dealcredit token finance).
func (e *env) tokenCmd() *cobra.Command {
	roles := make([]string, len(api.Roles))
	for i, r := range api.Roles {
		roles[i] = string(r)
	}
	return &cobra.Command{
		Use:       "token ROLE",
		Short:     "print the first API token of ROLE from the daemon's tokens file (" + strings.Join(roles, ", ") + ")",
		Example:   `  curl -H "Authorization: Bearer $(dealcredit token finance)" 'localhost:8080/v1/revenue-mix?quarter=current'`,
		ValidArgs: roles,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("token: name one role: %s", strings.Join(roles, ", "))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			tokens, err := demo.LoadTokens(e.cfg.TokensFile)
			if err != nil {
				return err
			}
			for _, t := range tokens {
				if string(t.Role) == args[0] {
					fmt.Fprintln(e.stdout, t.Token)
					return nil
				}
			}
			return fmt.Errorf("token: no %q token in %s (roles: %s)", args[0], e.cfg.TokensFile, strings.Join(roles, ", "))
		},
	}
}
