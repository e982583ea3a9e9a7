/* tdexec completion — shell completion made from the command table and
 * the commands' getopt option arrays, so it cannot drift from the code. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char completion_usage[] =
    "Usage: tdexec completion bash | list\n"
    "\n"
    "bash: print a bash completion script built from the commands' option tables;\n"
    "load it with:  source <(tdexec completion bash)\n"
    "list: print every command and subcommand, one a line.\n";

/* Every --option of an array, space-separated ("--json --chain ..."). */
static void print_opts(const struct option *o)
{
	for (; o && o->name; o++)
		printf(" --%s", o->name);
}

static void print_names(const struct cli_cmd *c)
{
	for (; c && c->name; c++)
		printf(" %s", c->name);
}

static int completion_bash(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(completion_usage, stdout);
		return 0;
	}
	if (argc > 1)
		return cli_usage("completion bash", "unexpected argument '%s'", argv[1]);
	fputs("# bash completion for tdexec, made by 'tdexec completion bash'\n"
	      "_tdexec() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\tlocal cmd= sub= i w words=\n"
	      "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tw=${COMP_WORDS[i]}\n"
	      "\t\tcase $w in\n"
	      "\t\t--log-level) ((i++)); continue ;;\n"
	      "\t\t-*) continue ;;\n"
	      "\t\tesac\n"
	      "\t\tif [ -z \"$cmd\" ]; then cmd=$w; else sub=$w; break; fi\n"
	      "\tdone\n"
	      "\tif [ \"$prev\" = --log-level ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W 'debug info warn error off' -- \"$cur\"))\n"
	      "\t\treturn\n"
	      "\tfi\n"
	      "\tcase $cmd/$sub in\n"
	      "\t/) words='--help --version --log-level",
	      stdout);
	print_names(cli_commands);
	fputs("' ;;\n", stdout);
	for (const struct cli_cmd *c = cli_commands; c && c->name; c++) {
		if (c->subs) {
			for (const struct cli_cmd *s = c->subs; s->name; s++) {
				printf("\t%s/%s) words='--help", c->name, s->name);
				print_opts(s->opts);
				fputs("' ;;\n", stdout);
			}
			printf("\t%s/) words='--help", c->name);
			print_names(c->subs);
			print_opts(c->opts);
			fputs("' ;;\n", stdout);
		} else {
			printf("\t%s/*) words='--help", c->name);
			print_opts(c->opts);
			fputs("' ;;\n", stdout);
		}
	}
	fputs(
	    "\tesac\n"
	    "\t# an option's value or an operand: file names\n"
	    "\tcase $cur in\n"
	    "\t-*) COMPREPLY=($(compgen -W \"$words\" -- \"$cur\")) ;;\n"
	    "\t*)\n"
	    "\t\tCOMPREPLY=($(compgen -W \"$(printf '%s\\n' $words | grep -v '^-')\" -- \"$cur\"))\n"
	    "\t\t[ ${#COMPREPLY[@]} -gt 0 ] || COMPREPLY=($(compgen -f -- \"$cur\"))\n"
	    "\t\t;;\n"
	    "\tesac\n"
	    "}\n"
	    "complete -F _tdexec tdexec\n",
	    stdout);
	return 0;
}

static int completion_list(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(completion_usage, stdout);
		return 0;
	}
	if (argc > 1)
		return cli_usage("completion list", "unexpected argument '%s'", argv[1]);
	for (const struct cli_cmd *c = cli_commands; c && c->name; c++) {
		printf("%s\n", c->name);
		for (const struct cli_cmd *s = c->subs; s && s->name; s++)
			printf("%s %s\n", c->name, s->name);
	}
	return 0;
}

const struct cli_cmd completion_cmds[] = {
    {"bash", completion_bash, "a bash completion script", NULL, NULL},
    {"list", completion_list, "every command and subcommand", NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_completion(int argc, char **argv)
{
	return cli_dispatch("completion", completion_cmds, argc, argv, completion_usage);
}
