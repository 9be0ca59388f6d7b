<?php
// Interop peer: a PECL gearman client driven by tests/common/peer.rs (see tests/peers/README.md
// for the arguments and the output lines, which are the same for every peer).
[, $host, $port, $mode] = $argv;
$args = array_slice($argv, 4);
$waitMs = (int) (getenv('PEER_WAIT_MS') ?: 10000);

function out(string $line): void { fwrite(STDOUT, $line . "\n"); }
function unique_arg(string $unique): ?string { return $unique === 'none' ? null : $unique; }

$client = new GearmanClient();
// The third argument (default true) makes PECL ask for exceptions (OPTION_REQ exceptions).
$client->addServer($host, (int) $port, $mode !== 'call-plain');
$client->setTimeout($waitMs);

switch ($mode) {
case 'call':
case 'call-plain':
    [$function, $hex, $unique, $count] = $args;
    $event = fn (string $what) => fn (GearmanTask $task, $i) => out("$i $what " . bin2hex($task->data()));
    $client->setDataCallback($event('data'));
    $client->setWarningCallback($event('warning'));
    $client->setCompleteCallback($event('complete'));
    if ($mode === "call") {
        // PECL asks for exceptions when this callback is set, whatever addServer was told.
        $client->setExceptionCallback($event("exception"));
    }
    $client->setFailCallback(fn (GearmanTask $task, $i) => out("$i fail"));
    $client->setStatusCallback(
        fn (GearmanTask $task, $i) => out("$i status {$task->taskNumerator()} {$task->taskDenominator()}")
    );
    for ($i = 0; $i < (int) $count; $i++) {
        if (!$client->addTask($function, hex2bin($hex), $i, unique_arg($unique))) {
            out('error ' . $client->returnCode() . ' ' . $client->error());
            exit(0);
        }
    }
    $ran = $client->runTasks();
    if ($client->returnCode() == GEARMAN_TIMEOUT) {
        out('timeout');
    } elseif (!$ran) {
        out('error ' . $client->returnCode() . ' ' . $client->error());
    } else {
        out('end');
    }
    break;
case 'background':
    $function = array_shift($args);
    foreach ($args as $job) {
        [$priority, $hex, $unique] = explode(':', $job, 3);
        $submit = ['low' => 'doLowBackground', 'normal' => 'doBackground', 'high' => 'doHighBackground'][$priority];
        $handle = $client->$submit($function, hex2bin($hex), unique_arg($unique));
        if ($client->returnCode() != GEARMAN_SUCCESS) {
            out('error ' . $client->returnCode() . ' ' . $client->error());
            exit(1);
        }
        out("handle $priority $handle");
    }
    break;
case 'status':
    [$known, $running, $numerator, $denominator] = $client->jobStatus($args[0]);
    out('status ' . (int) $known . ' ' . (int) $running . " $numerator $denominator");
    break;
case 'status-unique':
    $status = $client->jobStatusByUniqueKey($args[0]);
    out('status ' . implode(' ', array_map('intval', $status)));
    break;
default:
    fwrite(STDERR, "unknown mode $mode\n");
    exit(2);
}
