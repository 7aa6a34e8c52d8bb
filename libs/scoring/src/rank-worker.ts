/** Helper thread of a RankPool: ranks one share of users per request (the platform's handoff, @robustrec/core). */
import { helperData, serveRequests } from '@robustrec/core';
import { runDotTask, type RankTask } from './rank-task';

const { end } = helperData<Record<string, never>>();
serveRequests(end, (_cmd, messages) => runDotTask(messages[0] as RankTask));
