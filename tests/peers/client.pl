#!/usr/bin/perl
# Interop peer: a Perl Gearman::Client driven by tests/common/peer.rs (see tests/peers/README.md
# for the arguments and the output lines, which are the same for every peer).
use strict;
use warnings;
use Gearman::Client;
use Gearman::Task;

$| = 1;
my ($host, $port, $mode, @args) = @ARGV;
my $wait_s = ($ENV{PEER_WAIT_MS} || 10000) / 1000;

sub out { print "$_[0]\n" }
sub hex_of { unpack('H*', $_[0]) }
sub unique_arg { $_[0] eq 'none' ? undef : $_[0] }

# exceptions => 1 sends OPTION_REQ exceptions on each connection; the default is off.
my $client = Gearman::Client->new(
    job_servers => ["$host:$port"],
    exceptions  => $mode eq 'call' ? 1 : 0,
);

if ($mode eq 'call' || $mode eq 'call-plain') {
    my ($function, $hex, $unique, $count) = @args;
    my $workload = pack('H*', $hex);
    my $set = $client->new_task_set;
    # Taskset->wait fails the tasks left at its timeout, with this reason.
    my $timed_out = 0;
    for my $i (0 .. $count - 1) {
        $set->add_task(Gearman::Task->new($function, \$workload, {
            uniq         => unique_arg($unique),
            on_data      => sub { out("$i data " . hex_of(${ $_[0] })) },
            on_warning   => sub { out("$i warning " . hex_of(${ $_[0] })) },
            on_status    => sub { out("$i status $_[0] $_[1]") },
            on_complete  => sub { out("$i complete " . hex_of(${ $_[0] })) },
            on_fail      => sub {
                return $timed_out = 1 if ($_[0] // '') =~ /elapsed timeout/;
                out("$i fail");
            },
            on_exception => sub { out("$i exception " . hex_of($_[0])) },
        }));
    }
    $set->wait(timeout => $wait_s);
    out($timed_out ? 'timeout' : 'end');
}
elsif ($mode eq 'background') {
    my ($function, @jobs) = @args;
    for my $job (@jobs) {
        my ($priority, $hex, $unique) = split(/:/, $job, 3);
        my $workload = pack('H*', $hex);
        my $handle = $client->dispatch_background(Gearman::Task->new($function, \$workload, {
            uniq     => unique_arg($unique),
            priority => $priority,
        }));
        defined $handle or die "dispatch_background failed\n";
        out("handle $priority $handle");
    }
}
elsif ($mode eq 'status') {
    my $status = $client->get_status($args[0]) or die "get_status failed\n";
    my ($numerator, $denominator) = @{ $status->progress || ['', ''] };
    out(sprintf('status %d %d %s %s', $status->known, $status->running, $numerator, $denominator));
}
else {
    die "unknown mode $mode\n";
}
