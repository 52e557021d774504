import { resolve } from 'node:path';
import { orderStatusAction } from '../test/fakes/fake-shop.js';

/**
 * The demo's agents: realistic prompts, short contact timeouts so a quiet contact is closed in
 * seconds, the example knowledge base (kb/acme) and an order lookup in the fake shop at `shopUrl`
 * (test/fakes/fake-shop.ts) for the triage agent. Its token comes from DEMO_SHOP_TOKEN, as a real
 * one would come from the environment.
 */
export const demoAgents = (shopUrl: string) => `
agents:
  - id: acme-triage
    name: Acme Support
    mode: inception
    secretEnv: DEMO_TRIAGE_SECRET
    handoffRule: new-queue
    llm: { model: demo-model, temperature: 0.2 }
    prompt: |
      You are the first-line assistant of Acme, an online shop for outdoor gear.
      Answer questions about orders, shipping and returns briefly and kindly.
      Resolve the conversation once the contact confirms they have what they need.
      Hand over to a human for refunds over 100 EUR, complaints, or anything you are unsure of.
    topics: [Billing, Shipping, Returns, Timeout]
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts:
      turnDebounce: 500ms
      virtualAgent: 1m
      contactNudge: 3s
      contact: 6s
      onContactTimeout: resolve
      timeoutTopic: Timeout
    knowledge:
      sources: [{ path: ${JSON.stringify(resolve('kb/acme/*.md'))} }]
      searchConfig: english
      minScore: 0.3
    actions:
${orderStatusAction(shopUrl, { tokenEnv: 'DEMO_SHOP_TOKEN' })}    messages:
      nudge: Are you still there? Just reply here if you need anything else.
      contactTimeout: We have not heard back, so I am closing this conversation. Write to us any time!
  - id: acme-helper
    name: Acme Order Helper
    mode: delegation
    secretEnv: DEMO_HELPER_SECRET
    handoffRule: previous-agent
    llm: { model: demo-model }
    prompt: |
      A human agent handed you this conversation to collect the contact's order number.
      Ask for it, then hand the conversation back.
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts: { turnDebounce: 500ms, firstQuestion: 90s, contact: 1h }
`;

/**
 * The demo's agents as replay reads them when it falls back to the demo's database: it makes no
 * calls, and the shop a demo run started is gone by then, so its address here never answers.
 */
export const DEMO_AGENTS = demoAgents('http://shop.demo.invalid');

export const DEMO_TRIAGE_SECRET = 'd3adb33fd3adb33fd3adb33fd3adb33f';
export const DEMO_HELPER_SECRET = '0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce00';
/** The fake shop's token: the demo and `npm run chat -- --demo` set it as DEMO_SHOP_TOKEN. */
export const DEMO_SHOP_TOKEN = 'demo-shop-token-5c4b3a';
