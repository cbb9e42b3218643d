# The torch 1.13 loop of Example_wholeLoop (loop_example_test.go), for checking its
# printed figures: run with /usr/bin/python3 (python3-torch). It prints the weights,
# the EMA, the frozen parameter, its optimizer state and the last rate.
import torch
torch.set_default_dtype(torch.float32)
w=torch.tensor([0.1,-0.2,0.3],requires_grad=True); b=torch.tensor([0.0],requires_grad=True); emb=torch.tensor([1.0,1.0],requires_grad=False)
emb.requires_grad_(True)  # in the optimizer, but never gets a grad
opt=torch.optim.AdamW([{'params':[w]},{'params':[b,emb],'weight_decay':0}],lr=1e-3,foreach=False)
s=torch.optim.lr_scheduler.OneCycleLR(opt,max_lr=0.05,total_steps=20,anneal_strategy='linear',three_phase=True)
ema=[w.detach().clone(),b.detach().clone(),emb.detach().clone()]; n=0
for step in range(20):
    opt.zero_grad()
    for micro in range(4):
        x=torch.tensor([ (step%5)/5, micro/4, 1.0])
        target=2*x[0]-x[1]+0.5
        pred=(w*x).sum()+b[0]
        loss=0.5*(pred-target)**2/4
        loss.backward()
    torch.nn.utils.clip_grad_norm_([w,b,emb],1.0)
    opt.step()
    cur=[w.detach(),b.detach(),emb.detach()]
    if n==0:
        for a,c in zip(ema,cur): a.copy_(c)
    else:
        for a,c in zip(ema,cur): a.lerp_(c,1-0.9)
    n+=1
    s.step()
print(w.tolist(), ema[0].tolist(), emb.tolist(), opt.state[emb], opt.param_groups[0]['lr'])
