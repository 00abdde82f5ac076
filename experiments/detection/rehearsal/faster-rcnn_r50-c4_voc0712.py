# Rehearsal scale of the paper's C4 Faster R-CNN (../faster-rcnn_r50-c4_voc0712.py) around a released ResNet-50
# given with --backbone: the paper's detector, data (VOC2007 + VOC2012 trainval, VOC2007 test), pipelines, anchors
# and evaluator, for 2 iterations of batch 1, tested on the first 2 test images: the path a cluster job will run,
# on a CPU. Its mAP means nothing. The C4 head runs ResNet-50's layer4 on every RoI: with the paper's 512 sampled
# RoIs an image in training and 1,000 proposals in testing this job took 17 minutes on 2 cores; 64 and 50 keep
# every layer and shape of the paper's detector at a fraction of that.
_base_ = ['../faster-rcnn_r50-c4_voc0712.py']

max_iters = 2
model = dict(train_cfg=dict(rcnn=dict(sampler=dict(num=64))), test_cfg=dict(rpn=dict(max_per_img=50)))
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(indices=2))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=1))
