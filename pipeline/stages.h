/* stages.h — the command-line stages.  Each takes the arguments after the
 * stage name (argv[0] is the stage name), prints its own usage on -h, and
 * returns the process exit status. */
#ifndef DT_STAGES_H
#define DT_STAGES_H

int cmd_import(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_stimuli(int argc, char **argv);
int cmd_cluster(int argc, char **argv);

#endif
